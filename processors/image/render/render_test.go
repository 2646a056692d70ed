package render

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

var (
	red   = color.NRGBA{R: 255, A: 255}
	blue  = color.NRGBA{B: 255, A: 255}
	green = color.NRGBA{G: 255, A: 255}
)

// testImage is w x h blue with a red top-left quarter, so that any
// rotation or flip shows where the corner went.
func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := blue
			if x < w/2 && y < h/2 {
				c = red
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tiffEntry is one tag for buildTIFF: a SHORT number, an ASCII
// string or RATIONALs.
type tiffEntry struct {
	tag   uint16
	short uint16
	ascii string
	rats  [][2]uint32
	// sub is a directory the LONG value points at.
	sub []tiffEntry
}

// buildTIFF writes a little-endian TIFF/EXIF structure with one IFD0 and
// the sub-directories its entries point at.
func buildTIFF(ifd0 []tiffEntry) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	var write func(entries []tiffEntry) uint32
	write = func(entries []tiffEntry) uint32 {
		off := uint32(len(b))
		dir := make([]byte, 2+12*len(entries)+4)
		binary.LittleEndian.PutUint16(dir, uint16(len(entries)))
		b = append(b, dir...)
		for i, e := range entries {
			p := int(off) + 2 + 12*i
			binary.LittleEndian.PutUint16(b[p:], e.tag)
			switch {
			case e.sub != nil:
				binary.LittleEndian.PutUint16(b[p+2:], typeLong)
				binary.LittleEndian.PutUint32(b[p+4:], 1)
				sub := write(e.sub)
				binary.LittleEndian.PutUint32(b[p+8:], sub)
			case e.ascii != "":
				v := append([]byte(e.ascii), 0)
				binary.LittleEndian.PutUint16(b[p+2:], typeASCII)
				binary.LittleEndian.PutUint32(b[p+4:], uint32(len(v)))
				if len(v) <= 4 {
					copy(b[p+8:], v)
				} else {
					binary.LittleEndian.PutUint32(b[p+8:], uint32(len(b)))
					b = append(b, v...)
				}
			case e.rats != nil:
				binary.LittleEndian.PutUint16(b[p+2:], typeRational)
				binary.LittleEndian.PutUint32(b[p+4:], uint32(len(e.rats)))
				binary.LittleEndian.PutUint32(b[p+8:], uint32(len(b)))
				for _, r := range e.rats {
					b = binary.LittleEndian.AppendUint32(b, r[0])
					b = binary.LittleEndian.AppendUint32(b, r[1])
				}
			default:
				binary.LittleEndian.PutUint16(b[p+2:], typeShort)
				binary.LittleEndian.PutUint32(b[p+4:], 1)
				binary.LittleEndian.PutUint16(b[p+8:], e.short)
			}
		}
		return off
	}
	write(ifd0)
	return b
}

// withEXIF inserts an APP1 Exif segment holding tiff right after the SOI.
func withEXIF(jpg, tiff []byte) []byte {
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xff, 0xe1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func orientedJPEG(t testing.TB, img image.Image, orient uint16) []byte {
	return withEXIF(encJPEG(t, img), buildTIFF([]tiffEntry{{tag: tagOrientation, short: orient}}))
}

func fit(name string, w, h int) Preset {
	return Preset{Name: name, Width: w, Height: h, Mode: Fit, Format: JPEG, Quality: 85}
}

func render(t *testing.T, data []byte, presets ...Preset) (Info, []Variant) {
	t.Helper()
	info, vs, err := Render(context.Background(), bytes.NewReader(data), presets, Limits{}, Options{})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(vs) != len(presets) {
		t.Fatalf("%d variants for %d presets", len(vs), len(presets))
	}
	for i, v := range vs {
		if v.Name != presets[i].Name {
			t.Fatalf("variant %d is %q, want %q", i, v.Name, presets[i].Name)
		}
		img, format, err := image.Decode(bytes.NewReader(v.Data))
		if err != nil {
			t.Fatalf("variant %s does not decode: %v", v.Name, err)
		}
		if want := "image/" + format; want != v.ContentType {
			t.Fatalf("variant %s: content type %s, data is %s", v.Name, v.ContentType, format)
		}
		if b := img.Bounds(); b.Dx() != v.Width || b.Dy() != v.Height {
			t.Fatalf("variant %s: says %dx%d, is %dx%d", v.Name, v.Width, v.Height, b.Dx(), b.Dy())
		}
	}
	return info, vs
}

func decodeVariant(t *testing.T, v Variant) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(v.Data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// near reports whether c is within tol of want per channel.
func near(c color.Color, want color.NRGBA, tol int) bool {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	d := func(a, b uint8) bool { return math.Abs(float64(a)-float64(b)) <= float64(tol) }
	return d(n.R, want.R) && d(n.G, want.G) && d(n.B, want.B)
}

func TestModes(t *testing.T) {
	src := encJPEG(t, testImage(400, 200))
	cases := []struct {
		p    Preset
		w, h int
	}{
		{fit("box", 100, 100), 100, 50},
		{fit("wide", 300, 0), 300, 150},
		{fit("tall", 0, 50), 100, 50},
		{fit("noup", 800, 800), 400, 200},
		{Preset{Name: "fill", Width: 100, Height: 100, Mode: Fill, Format: JPEG, Quality: 80}, 100, 100},
		{Preset{Name: "fillup", Width: 600, Height: 100, Mode: Fill, Format: PNG}, 600, 100},
		{Preset{Name: "exact", Width: 50, Height: 80, Mode: Exact, Format: PNG}, 50, 80},
	}
	var presets []Preset
	for _, c := range cases {
		presets = append(presets, c.p)
	}
	info, vs := render(t, src, presets...)
	if info.Width != 400 || info.Height != 200 || info.Format != "jpeg" || info.Orientation != 1 {
		t.Fatalf("info %+v", info)
	}
	for i, c := range cases {
		if vs[i].Width != c.w || vs[i].Height != c.h {
			t.Errorf("%s: %dx%d, want %dx%d", c.p.Name, vs[i].Width, vs[i].Height, c.w, c.h)
		}
	}
	// Fill crops the centre: of 400x200 into 100x100, the middle 200x200
	// is kept, whose top-left quarter is half red (x 100..200 of 200).
	fill := decodeVariant(t, vs[4])
	if !near(fill.At(10, 10), red, 40) || !near(fill.At(90, 10), blue, 40) || !near(fill.At(10, 90), blue, 40) {
		t.Errorf("fill is not the centre crop: %v %v %v", fill.At(10, 10), fill.At(90, 10), fill.At(10, 90))
	}
}

func TestOrientation(t *testing.T) {
	img := testImage(40, 20) // red quarter at top-left
	cases := []struct {
		orient uint16
		w, h   int
		// where the red quarter lands, as a point inside it
		redX, redY int
	}{
		{1, 40, 20, 2, 2},
		{3, 40, 20, 37, 17}, // 180: bottom-right
		{6, 20, 40, 17, 2},  // 90 clockwise: top-right
		{8, 20, 40, 2, 37},  // 90 counter-clockwise: bottom-left
		{2, 40, 20, 37, 2},  // mirrored: top-right
	}
	for _, c := range cases {
		png := Preset{Name: "p", Width: 100, Height: 100, Mode: Fit, Format: PNG}
		fill := Preset{Name: "f", Width: 10, Height: 30, Mode: Fill, Format: PNG}
		info, vs := render(t, orientedJPEG(t, img, c.orient), png, fill)
		if info.Orientation != int(c.orient) || info.Width != c.w || info.Height != c.h {
			t.Errorf("orientation %d: info %+v", c.orient, info)
		}
		if vs[0].Width != c.w || vs[0].Height != c.h {
			t.Errorf("orientation %d: %dx%d, want %dx%d", c.orient, vs[0].Width, vs[0].Height, c.w, c.h)
		}
		if vs[1].Width != 10 || vs[1].Height != 30 {
			t.Errorf("orientation %d: fill %dx%d, want 10x30", c.orient, vs[1].Width, vs[1].Height)
		}
		out := decodeVariant(t, vs[0])
		if got := out.At(c.redX, c.redY); !near(got, red, 60) {
			t.Errorf("orientation %d: (%d,%d) is %v, want red", c.orient, c.redX, c.redY, got)
		}
		// The opposite corner is blue.
		if got := out.At(c.w-1-c.redX, c.h-1-c.redY); !near(got, blue, 60) {
			t.Errorf("orientation %d: opposite corner is %v, want blue", c.orient, got)
		}
	}
}

func TestEXIFFields(t *testing.T) {
	tiff := buildTIFF([]tiffEntry{
		{tag: tagMake, ascii: "Acme"},
		{tag: tagModel, ascii: "Snap 3000"},
		{tag: tagOrientation, short: 1},
		{tag: tagExifIFD, sub: []tiffEntry{
			{tag: tagDateTimeOrig, ascii: "2024:05:06 07:08:09"},
			{tag: tagOffsetTimeOrig, ascii: "+02:00"},
			{tag: tagLensModel, ascii: "Acme 35mm f/2"},
		}},
		{tag: tagGPSIFD, sub: []tiffEntry{
			{tag: tagGPSLatitudeRef, ascii: "S"},
			{tag: tagGPSLatitude, rats: [][2]uint32{{33, 1}, {30, 1}, {0, 1}}},
			{tag: tagGPSLongitudeRef, ascii: "E"},
			{tag: tagGPSLongitude, rats: [][2]uint32{{151, 1}, {15, 1}, {36, 10}}},
		}},
	})
	data := withEXIF(encJPEG(t, testImage(16, 16)), tiff)

	info, _, err := Render(context.Background(), bytes.NewReader(data), nil, Limits{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Make != "Acme" || info.Model != "Snap 3000" || info.LensModel != "Acme 35mm f/2" {
		t.Errorf("camera fields: %+v", info)
	}
	want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))
	if !info.TakenAt.Equal(want) {
		t.Errorf("TakenAt %v, want %v", info.TakenAt, want)
	}
	if info.GPS != nil {
		t.Errorf("GPS reported without being asked: %+v", info.GPS)
	}

	info, _, err = Render(context.Background(), bytes.NewReader(data), nil, Limits{}, Options{GPS: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.GPS == nil || math.Abs(info.GPS.Lat+33.5) > 1e-9 || math.Abs(info.GPS.Lon-(151+15.0/60+3.6/3600)) > 1e-9 {
		t.Errorf("GPS %+v", info.GPS)
	}
}

// Bad EXIF values leave the defaults.
func TestEXIFBadValues(t *testing.T) {
	for _, tiff := range [][]byte{
		buildTIFF([]tiffEntry{{tag: tagOrientation, short: 9}}),
		buildTIFF([]tiffEntry{{tag: tagOrientation, short: 0}}),
		[]byte("II*\x00\xff\xff\xff\xff"),     // IFD0 out of bounds
		[]byte("MM\x00*\x00\x00\x00\x08\xff"), // entry count beyond the end
		[]byte("XX"),
	} {
		info, _ := render(t, withEXIF(encJPEG(t, testImage(8, 4)), tiff), fit("a", 8, 8))
		if info.Orientation != 1 || info.Width != 8 {
			t.Errorf("%q: info %+v", tiff, info)
		}
	}
}

func TestGIFFirstFrame(t *testing.T) {
	frame := func(c color.Color) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, 30, 20), palette.Plan9)
		for i := range p.Pix {
			p.Pix[i] = uint8(p.Palette.Index(c))
		}
		return p
	}
	var b bytes.Buffer
	err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame(red), frame(green)}, Delay: []int{10, 10}})
	if err != nil {
		t.Fatal(err)
	}
	info, vs := render(t, b.Bytes(), Preset{Name: "a", Width: 15, Height: 15, Mode: Fit, Format: PNG})
	if info.Format != "gif" || vs[0].Width != 15 || vs[0].Height != 10 {
		t.Fatalf("info %+v, variant %dx%d", info, vs[0].Width, vs[0].Height)
	}
	if got := decodeVariant(t, vs[0]).At(7, 5); !near(got, red, 0) {
		t.Errorf("pixel %v, want red from the first frame", got)
	}
}

func TestColourModels(t *testing.T) {
	const w, h = 24, 16
	gray := image.NewGray(image.Rect(0, 0, w, h))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, green})
	cmyk := image.NewCMYK(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			gray.SetGray(x, y, color.Gray{Y: 200})
			gray16.SetGray16(x, y, color.Gray16{Y: 0x4000})
			rgba64.SetRGBA64(x, y, color.RGBA64{R: 0xffff, G: 0x8000, A: 0xffff})
			pal.SetColorIndex(x, y, 1)
			cmyk.SetCMYK(x, y, color.CMYK{C: 255}) // cyan
		}
	}
	cmykData := cmykJPEG(t, 8, 8, [4]uint8{255, 0, 0, 0})
	if img, err := jpeg.Decode(bytes.NewReader(cmykData)); err != nil {
		t.Fatalf("hand-made CMYK JPEG: %v", err)
	} else if _, ok := img.(*image.CMYK); !ok {
		t.Fatalf("hand-made CMYK JPEG decodes to %T", img)
	}
	cases := []struct {
		name string
		data []byte
		want color.NRGBA
	}{
		{"gray png", encPNG(t, gray), color.NRGBA{200, 200, 200, 255}},
		{"gray16 png", encPNG(t, gray16), color.NRGBA{64, 64, 64, 255}},
		{"rgba64 png", encPNG(t, rgba64), color.NRGBA{255, 128, 0, 255}},
		{"paletted png", encPNG(t, pal), green},
		{"cmyk source jpeg", encJPEG(t, cmyk), color.NRGBA{0, 255, 255, 255}},
		{"cmyk jpeg", cmykData, color.NRGBA{0, 255, 255, 255}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, vs := render(t, c.data,
				Preset{Name: "p", Width: 12, Height: 12, Mode: Fit, Format: PNG},
				Preset{Name: "j", Width: 12, Height: 12, Mode: Fit, Format: JPEG, Quality: 95})
			for _, v := range vs {
				if got := decodeVariant(t, v).At(3, 3); !near(got, c.want, 6) {
					t.Errorf("%s: pixel %v, want %v", v.Name, got, c.want)
				}
			}
		})
	}
}

// cmykJPEG builds a baseline four-component Adobe JPEG (what Photoshop
// writes for CMYK) of one flat colour, by hand: image/jpeg encodes only
// grey and YCbCr. All AC coefficients are zero, so each 8x8 block is a DC
// difference and an end-of-block. Adobe CMYK stores inverted values.
func cmykJPEG(t testing.TB, w, h int, c [4]uint8) []byte {
	t.Helper()
	seg := func(b []byte, marker byte, payload []byte) []byte {
		b = append(b, 0xff, marker)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)+2))
		return append(b, payload...)
	}
	b := []byte{0xff, 0xd8}
	// APP14 Adobe, transform 0 (CMYK, no colour transform).
	b = seg(b, 0xee, []byte("Adobe\x00\x64\x00\x00\x00\x00\x00"))
	// DQT: table 0, all ones.
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	b = seg(b, 0xdb, q)
	// SOF0: 8-bit, h x w, four components 1x1 sampling, table 0.
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 4}
	for i := 1; i <= 4; i++ {
		sof = append(sof, byte(i), 0x11, 0)
	}
	b = seg(b, 0xc0, sof)
	// DHT: DC table 0 with twelve 4-bit codes, category k coded as k;
	// AC table 0 with the one code "0" for EOB.
	dc := []byte{0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for k := range 12 {
		dc = append(dc, byte(k))
	}
	b = seg(b, 0xc4, dc)
	ac := append([]byte{0x10, 1}, make([]byte, 15)...)
	ac = append(ac, 0x00)
	b = seg(b, 0xc4, ac)
	// SOS: four components, tables 0/0, full spectral range.
	sos := []byte{4}
	for i := 1; i <= 4; i++ {
		sos = append(sos, byte(i), 0x00)
	}
	sos = append(sos, 0, 63, 0)
	b = seg(b, 0xda, sos)

	// Entropy-coded data: per MCU and component, the DC difference's
	// category and bits, then "0" (EOB). DC = 8*(stored-128), and Adobe
	// CMYK stores 255-c.
	var bits []bool
	put := func(v uint32, n int) {
		for i := n - 1; i >= 0; i-- {
			bits = append(bits, v>>uint(i)&1 == 1)
		}
	}
	prev := [4]int{}
	for range ((w + 7) / 8) * ((h + 7) / 8) {
		for k := range 4 {
			dcv := 8 * (int(255-c[k]) - 128)
			diff := dcv - prev[k]
			prev[k] = dcv
			cat := 0
			for a := max(diff, -diff); a > 0; a >>= 1 {
				cat++
			}
			put(uint32(cat), 4)
			if diff < 0 {
				diff += 1<<cat - 1
			}
			put(uint32(diff), cat)
			put(0, 1)
		}
	}
	for len(bits)%8 != 0 {
		bits = append(bits, true)
	}
	for i := 0; i < len(bits); i += 8 {
		var v byte
		for j := range 8 {
			if bits[i+j] {
				v |= 1 << uint(7-j)
			}
		}
		b = append(b, v)
		if v == 0xff {
			b = append(b, 0)
		}
	}
	return append(b, 0xff, 0xd9)
}

func TestCascade(t *testing.T) {
	src := encJPEG(t, testImage(2000, 1500))
	presets := []Preset{
		{Name: "thumb", Width: 100, Height: 100, Mode: Fill, Format: JPEG, Quality: 80},
		fit("large", 1000, 1000),
		fit("preview", 400, 400),
		// Wider than preview: cannot come from it.
		{Name: "banner", Width: 900, Height: 60, Mode: Exact, Format: PNG},
	}
	_, vs := render(t, src, presets...)
	from := map[string]string{}
	for _, v := range vs {
		from[v.Name] = v.From
	}
	want := map[string]string{"large": "", "preview": "large", "thumb": "preview", "banner": "large"}
	for name, f := range want {
		if from[name] != f {
			t.Errorf("%s made from %q, want %q", name, from[name], f)
		}
	}
	if vs[1].Width != 1000 || vs[1].Height != 750 || vs[2].Width != 400 || vs[2].Height != 300 {
		t.Errorf("sizes: large %dx%d, preview %dx%d", vs[1].Width, vs[1].Height, vs[2].Width, vs[2].Height)
	}

	// The cascaded thumbnail matches one made straight from the original.
	_, direct := render(t, src, presets[0])
	if d := meanDiff(decodeVariant(t, vs[0]), decodeVariant(t, direct[0])); d > 3 {
		t.Errorf("cascaded thumbnail differs from the direct one by %.2f per channel", d)
	}
}

func meanDiff(a, b image.Image) float64 {
	var sum float64
	var n int
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c1 := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			c2 := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			sum += math.Abs(float64(c1.R)-float64(c2.R)) + math.Abs(float64(c1.G)-float64(c2.G)) + math.Abs(float64(c1.B)-float64(c2.B))
			n += 3
		}
	}
	return sum / float64(n)
}

func TestMetadataStripped(t *testing.T) {
	tiff := buildTIFF([]tiffEntry{{tag: tagMake, ascii: "SECRETCAM"}, {tag: tagOrientation, short: 6}})
	src := withEXIF(encJPEG(t, testImage(64, 32)), tiff)
	if jpegEXIF(src) == nil {
		t.Fatal("test input has no EXIF segment")
	}
	_, vs := render(t, src, fit("a", 32, 32), Preset{Name: "b", Width: 16, Height: 16, Mode: Fill, Format: PNG})
	for _, v := range vs {
		if bytes.Contains(v.Data, []byte("SECRETCAM")) || bytes.Contains(v.Data, []byte("Exif")) {
			t.Errorf("%s carries EXIF", v.Name)
		}
	}
	if hasAPP1(vs[0].Data) {
		t.Error("JPEG variant has an APP1 segment")
	}
}

// hasAPP1 walks a JPEG's segments up to the first scan.
func hasAPP1(b []byte) bool {
	for i := 2; i+4 <= len(b) && b[i] == 0xff; {
		m := b[i+1]
		if m == 0xe1 {
			return true
		}
		if m == 0xda {
			return false
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return false
}

// Transparent pixels become white in JPEG, not their hidden colour.
func TestAlphaFlattened(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8)) // transparent black
	_, vs := render(t, encPNG(t, img), fit("j", 8, 8))
	if got := decodeVariant(t, vs[0]).At(4, 4); !near(got, color.NRGBA{255, 255, 255, 255}, 2) {
		t.Errorf("pixel %v, want white", got)
	}
}

// pngBomb is a valid PNG signature and IHDR claiming w x h, and no data.
func pngBomb(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

func TestHostileInputs(t *testing.T) {
	good := encJPEG(t, testImage(64, 48))
	// A JPEG whose SOF claims 60000x60000.
	bigJPEG := append([]byte{}, good...)
	if i := bytes.Index(bigJPEG, []byte{0xff, 0xc0}); i < 0 {
		t.Fatal("no SOF0")
	} else {
		binary.BigEndian.PutUint16(bigJPEG[i+5:], 60000)
		binary.BigEndian.PutUint16(bigJPEG[i+7:], 60000)
	}
	rnd := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	zeroGIF := []byte("GIF89a\x00\x00\x00\x00\x00\x00\x00;")

	cases := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"png bomb", pngBomb(100000, 100000), Limits{}, ErrTooLarge},
		{"jpeg bomb", bigJPEG, Limits{}, ErrTooLarge},
		{"pixel limit", good, Limits{MaxPixels: 64*48 - 1}, ErrTooLarge},
		{"byte limit", good, Limits{MaxBytes: int64(len(good) - 1)}, ErrTooLarge},
		{"truncated jpeg", good[:len(good)/2], Limits{}, ErrCorrupt},
		{"truncated header", good[:20], Limits{}, ErrCorrupt},
		{"random bytes", rnd, Limits{}, ErrUnsupported},
		{"text", []byte("<html>not an image</html>"), Limits{}, ErrUnsupported},
		{"empty", nil, Limits{}, ErrCorrupt},
		{"zero-size png", pngBomb(0, 10), Limits{}, ErrCorrupt},
		{"zero-size gif", zeroGIF, Limits{}, ErrCorrupt},
		{"png header only", pngBomb(10, 10), Limits{}, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, vs, err := Render(context.Background(), bytes.NewReader(c.data), []Preset{fit("a", 10, 10)}, c.lim, Options{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if vs != nil {
				t.Errorf("variants returned with an error")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d bytes", alloc)
			}
		})
	}
}

// TIFF and BMP inputs, written with golang.org/x/image's encoders.
func TestOtherInputFormats(t *testing.T) {
	img := testImage(40, 20)
	var tb, bb bytes.Buffer
	if err := tiff.Encode(&tb, img, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bb, img); err != nil {
		t.Fatal(err)
	}
	for format, data := range map[string][]byte{"tiff": tb.Bytes(), "bmp": bb.Bytes()} {
		info, vs := render(t, data, Preset{Name: "a", Width: 20, Height: 20, Mode: Fit, Format: PNG})
		if info.Format != format || info.Width != 40 || vs[0].Width != 20 || vs[0].Height != 10 {
			t.Errorf("%s: info %+v, variant %dx%d", format, info, vs[0].Width, vs[0].Height)
		}
		if got := decodeVariant(t, vs[0]).At(2, 2); !near(got, red, 0) {
			t.Errorf("%s: corner %v, want red", format, got)
		}
	}
}

// The content decides the format, whatever name or type it came with: the
// API takes none, and PNG bytes are read as PNG.
func TestContentDecides(t *testing.T) {
	info, _ := render(t, encPNG(t, testImage(10, 10)), fit("a", 5, 5))
	if info.Format != "png" {
		t.Errorf("format %q", info.Format)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Render(ctx, bytes.NewReader(encJPEG(t, testImage(20, 20))), []Preset{fit("a", 10, 10)}, Limits{}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// countdownCtx is cancelled once Err has been asked n times.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	c.n--
	if c.n < 0 {
		return context.Canceled
	}
	return nil
}

// Cancellation between presets stops the work.
func TestCancelledBetweenPresets(t *testing.T) {
	data := encJPEG(t, testImage(200, 100))
	presets := []Preset{fit("a", 100, 100), fit("b", 50, 50), fit("c", 20, 20)}
	// Asked before decoding and before each preset: allow the first preset.
	ctx := &countdownCtx{Context: context.Background(), n: 2}
	_, vs, err := Render(ctx, bytes.NewReader(data), presets, Limits{}, Options{})
	if !errors.Is(err, context.Canceled) || vs != nil {
		t.Fatalf("err %v, %d variants; want context.Canceled and none", err, len(vs))
	}
	if ctx.n >= 0 {
		t.Fatalf("Err asked %d times, want 3", 2-ctx.n)
	}
	ctx = &countdownCtx{Context: context.Background(), n: 4}
	if _, vs, err = Render(ctx, bytes.NewReader(data), presets, Limits{}, Options{}); err != nil || len(vs) != 3 {
		t.Fatalf("with enough budget: err %v, %d variants", err, len(vs))
	}
}

// A too-large image still reports what its header says.
func TestTooLargeInfo(t *testing.T) {
	info, _, err := Render(context.Background(), bytes.NewReader(pngBomb(100000, 100000)), nil, Limits{}, Options{})
	if !errors.Is(err, ErrTooLarge) || info.Width != 100000 || info.Format != "png" {
		t.Fatalf("err %v, info %+v", err, info)
	}
}

func TestValidate(t *testing.T) {
	ok := Preset{Name: "thumb-2", Width: 200, Height: 200, Mode: Fill, Format: JPEG, Quality: 80}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(p *Preset){
		func(p *Preset) { p.Name = "" },
		func(p *Preset) { p.Name = "Thumb" },
		func(p *Preset) { p.Name = "a/b" },
		func(p *Preset) { p.Name = "abcdefghijklmnopqrstuvwxyz0123456" }, // 33
		func(p *Preset) { p.Width = 0 },                                  // fill needs both
		func(p *Preset) { p.Mode = Exact; p.Height = 0 },
		func(p *Preset) { p.Mode = Fit; p.Width, p.Height = 0, 0 },
		func(p *Preset) { p.Width = MaxSide + 1 },
		func(p *Preset) { p.Height = -1 },
		func(p *Preset) { p.Mode = "crop" },
		func(p *Preset) { p.Format = "webp" },
		func(p *Preset) { p.Quality = 0 },
		func(p *Preset) { p.Quality = 101 },
	}
	for i, f := range bad {
		p := ok
		f(&p)
		if p.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, p)
		}
	}
	p := Preset{Name: "a", Width: 10, Mode: Fit, Format: PNG} // quality ignored
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	// Render checks presets, including duplicates, before reading.
	_, _, err := Render(context.Background(), bytes.NewReader(nil), []Preset{p, p}, Limits{}, Options{})
	if err == nil {
		t.Error("duplicate preset names accepted")
	}
}

func FuzzRender(f *testing.F) {
	small := testImage(12, 8)
	f.Add(encJPEG(f, small))
	f.Add(orientedJPEG(f, small, 6))
	f.Add(encPNG(f, small))
	f.Add(encPNG(f, image.NewGray16(image.Rect(0, 0, 5, 3))))
	f.Add(pngBomb(100000, 100000))
	f.Add(cmykJPEG(f, 8, 8, [4]uint8{255, 0, 0, 0}))
	var g bytes.Buffer
	if err := gif.Encode(&g, small, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(g.Bytes())
	var tb, bb bytes.Buffer
	if err := tiff.Encode(&tb, small, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		f.Fatal(err)
	}
	if err := bmp.Encode(&bb, small); err != nil {
		f.Fatal(err)
	}
	f.Add(tb.Bytes())
	f.Add(bb.Bytes())
	presets := []Preset{
		fit("a", 6, 6),
		{Name: "b", Width: 4, Height: 4, Mode: Fill, Format: PNG},
		{Name: "c", Width: 3, Height: 5, Mode: Exact, Format: JPEG, Quality: 50},
	}
	lim := Limits{MaxPixels: 1 << 16, MaxBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, vs, err := Render(context.Background(), bytes.NewReader(data), presets, lim, Options{GPS: true})
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error outside the permanent kinds: %v", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("info %+v", info)
		}
		for _, v := range vs {
			if len(v.Data) == 0 || v.Width <= 0 || v.Height <= 0 {
				t.Fatalf("variant %+v", v)
			}
		}
	})
}

// Probe reads what Render reports from the first bytes alone.
func TestProbe(t *testing.T) {
	tiff := buildTIFF([]tiffEntry{{tag: tagMake, ascii: "Acme"}, {tag: tagOrientation, short: 6}})
	data := withEXIF(encJPEG(t, testImage(640, 320)), tiff)
	info, err := Probe(data[:len(data)/2], Options{}) // the scan data cut short
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 320 || info.Height != 640 || info.Make != "Acme" || info.Orientation != 6 || info.Format != "jpeg" {
		t.Fatalf("Probe: %+v", info)
	}
	if _, err := Probe([]byte("plain text"), Options{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Probe of text: %v", err)
	}
}
