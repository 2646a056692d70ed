// Package render is the pure image part of s3gate's image variants: it
// reads one uploaded image, checks it against size limits before decoding
// its pixels, decodes it once, applies its EXIF orientation and produces
// every configured preset (thumbnails, previews) as encoded bytes with no
// metadata. It knows nothing of backends, queues or the catalogue.
//
// Inputs: JPEG, PNG, GIF (first frame), WebP, TIFF and BMP, recognised by
// their content, never by name or declared type. Outputs: JPEG and PNG.
// WebP output is not offered: golang.org/x/image has a WebP decoder but no
// encoder, and no pure-Go lossy WebP encoder of good enough quality and
// upkeep is among s3gate's dependencies; a cgo libwebp binding would break
// the static, cgo-free build.
//
// Memory: the input is buffered (at most Limits.MaxBytes), and decoding
// holds the full pixel array (up to Limits.MaxPixels pixels, 4 to 8 bytes
// each, more for a progressive JPEG's coefficients) plus one resampled
// intermediate; results are small. Decoding itself cannot be interrupted:
// the context is honoured before decoding and between presets.
package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/disintegration/imaging"

	// Further input formats, registered with package image.
	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// Errors about the input. All are permanent: the same bytes fail the same
// way on every attempt, so callers must not retry them. Returned errors
// wrap one of these with details; test with errors.Is.
var (
	// ErrTooLarge: the input exceeds Limits.MaxBytes, or its header claims
	// more than Limits.MaxPixels pixels.
	ErrTooLarge = errors.New("render: image too large")
	// ErrUnsupported: the content is not an image format this package reads.
	ErrUnsupported = errors.New("render: unsupported image format")
	// ErrCorrupt: the content looks like a supported format but does not
	// decode (truncated, inconsistent, zero-sized).
	ErrCorrupt = errors.New("render: corrupt image")
)

// Mode says how a preset's box is filled.
type Mode string

// Modes.
const (
	// Fit scales the image to lie inside the box, keeping its aspect
	// ratio; it never enlarges. A box with one side 0 bounds only the other.
	Fit Mode = "fit"
	// Fill scales the image to cover the box, keeping its aspect ratio,
	// then crops the centre to the box exactly; it enlarges if needed.
	Fill Mode = "fill"
	// Exact stretches the image to the box.
	Exact Mode = "exact"
)

// Format is a preset's output format.
type Format string

// Output formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
)

// MaxSide bounds a preset's width and height.
const MaxSide = 8192

// Preset describes one variant to make.
type Preset struct {
	// Name identifies the variant: 1 to 32 of [a-z0-9-].
	Name string
	// Width and Height of the box in pixels; 0 leaves a side unbounded
	// (Fit only).
	Width, Height int
	Mode          Mode
	Format        Format
	// Quality is the JPEG quality, 1 to 100; ignored for PNG.
	Quality int
}

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// Validate reports what is wrong with p, or nil.
func (p Preset) Validate() error {
	if !nameRE.MatchString(p.Name) {
		return fmt.Errorf("preset %q: name must be 1 to 32 of [a-z0-9-]", p.Name)
	}
	if p.Width < 0 || p.Height < 0 || p.Width > MaxSide || p.Height > MaxSide {
		return fmt.Errorf("preset %q: width and height must be 0 to %d", p.Name, MaxSide)
	}
	if p.Width == 0 && p.Height == 0 {
		return fmt.Errorf("preset %q: needs a width or a height", p.Name)
	}
	switch p.Mode {
	case Fit:
	case Fill, Exact:
		if p.Width == 0 || p.Height == 0 {
			return fmt.Errorf("preset %q: mode %s needs both width and height", p.Name, p.Mode)
		}
	default:
		return fmt.Errorf("preset %q: unknown mode %q (fit, fill, exact)", p.Name, p.Mode)
	}
	switch p.Format {
	case JPEG:
		if p.Quality < 1 || p.Quality > 100 {
			return fmt.Errorf("preset %q: JPEG quality must be 1 to 100", p.Name)
		}
	case PNG:
	default:
		return fmt.Errorf("preset %q: unknown format %q (jpeg, png)", p.Name, p.Format)
	}
	return nil
}

// ContentType is the media type of p's output.
func (p Preset) ContentType() string {
	if p.Format == PNG {
		return "image/png"
	}
	return "image/jpeg"
}

// Limits bound the work one image may cause. Zero fields take defaults.
type Limits struct {
	// MaxPixels bounds width*height as the header declares it; default
	// DefaultMaxPixels.
	MaxPixels int64
	// MaxBytes bounds the encoded input; default DefaultMaxBytes.
	MaxBytes int64
}

// Defaults for Limits.
const (
	DefaultMaxPixels = 50_000_000
	DefaultMaxBytes  = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Options choose what Render reports.
type Options struct {
	// GPS asks for the EXIF GPS position in Info; it is left out
	// otherwise, as a location is personal data.
	GPS bool
}

// Info describes the original image.
type Info struct {
	// Width and Height as displayed, that is after the EXIF orientation.
	Width, Height int
	// Format is the decoder's name: jpeg, png, gif, webp, tiff or bmp.
	Format string
	// Orientation is the EXIF orientation, 1 to 8; 1 when absent.
	Orientation int
	// EXIF fields, empty when absent.
	Make, Model, LensModel string
	// TakenAt is EXIF DateTimeOriginal, in its recorded offset when the
	// file has one and UTC otherwise; zero when absent.
	TakenAt time.Time
	// GPS is the position, only with Options.GPS and when present.
	GPS *GPS
}

// GPS is a position in decimal degrees, south and west negative.
type GPS struct {
	Lat, Lon float64
}

// Variant is one rendered preset.
type Variant struct {
	// Name is the preset's name.
	Name string
	// Width and Height of the encoded image.
	Width, Height int
	// ContentType is image/jpeg or image/png.
	ContentType string
	// Data is the encoded image, without metadata.
	Data []byte
	// From names the variant whose pixels this one was resized from, or is
	// empty when it was resized from the original.
	From string
}

// Render reads one image from r and makes every preset of presets, in
// order. See the package doc for the formats and limits. The returned
// Info is filled as far as known even when an error is returned after
// the header was read. Invalid presets are reported before reading r.
func Render(ctx context.Context, r io.Reader, presets []Preset, lim Limits, opts Options) (Info, []Variant, error) {
	lim = lim.withDefaults()
	seen := make(map[string]bool, len(presets))
	for _, p := range presets {
		if err := p.Validate(); err != nil {
			return Info{}, nil, err
		}
		if seen[p.Name] {
			return Info{}, nil, fmt.Errorf("preset %q given twice", p.Name)
		}
		seen[p.Name] = true
	}

	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return Info{}, nil, fmt.Errorf("render: reading image: %w", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return Info{}, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxBytes)
	}
	if len(data) == 0 {
		return Info{}, nil, fmt.Errorf("%w: empty input", ErrCorrupt)
	}

	info, cfg, err := probe(data, opts)
	if err != nil {
		return Info{}, nil, err
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return info, nil, fmt.Errorf("%w: %dx%d is more than %d pixels", ErrTooLarge, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	if len(presets) == 0 {
		return info, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return info, nil, err
	}

	src, err := decode(data, info.Format)
	if err != nil {
		return info, nil, err
	}
	// A GIF frame or a fuzzed header may disagree with the configuration;
	// plan from the pixels actually decoded.
	if b := src.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return info, nil, fmt.Errorf("%w: no pixels decoded", ErrCorrupt)
	}
	out, err := renderAll(ctx, src, info.Orientation, presets)
	return info, out, err
}

// Probe describes an image from its first bytes (its header and, for a
// JPEG, its EXIF segment, which come first: 128 KiB is plenty) without
// decoding any pixel. Errors are those of Render.
func Probe(head []byte, opts Options) (Info, error) {
	info, _, err := probe(head, opts)
	return info, err
}

// probe reads the header and the EXIF segment only; the EXIF reader is
// bounded by the buffer.
func probe(data []byte, opts Options) (Info, image.Config, error) {
	cfg, format, err := decodeConfig(data)
	if err != nil {
		return Info{}, cfg, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, cfg, fmt.Errorf("%w: %s of %dx%d pixels", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	info := Info{Format: format, Orientation: 1}
	if format == "jpeg" {
		if x := parseEXIF(jpegEXIF(data), opts.GPS); x != nil {
			info.Orientation = x.orientation
			info.Make, info.Model, info.LensModel = x.make, x.model, x.lens
			info.TakenAt = x.takenAt
			info.GPS = x.gps
		}
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	if swapsSides(info.Orientation) {
		info.Width, info.Height = cfg.Height, cfg.Width
	}
	return info, cfg, nil
}

// inputFormats are the decoders this package registers or relies on.
var inputFormats = map[string]bool{"jpeg": true, "png": true, "gif": true, "webp": true, "tiff": true, "bmp": true}

// decodeConfig reads the header only. Decoders are third-party code run on
// hostile input, so a panic is turned into ErrCorrupt.
func decodeConfig(data []byte) (cfg image.Config, format string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: header decoder panicked: %v", ErrCorrupt, p)
		}
	}()
	cfg, format, err = image.DecodeConfig(bytes.NewReader(data))
	switch {
	case errors.Is(err, image.ErrFormat):
		return cfg, "", fmt.Errorf("%w: content is not a known image format", ErrUnsupported)
	case err != nil:
		return cfg, format, fmt.Errorf("%w: %s header: %v", ErrCorrupt, format, err)
	case !inputFormats[format]:
		// Registered by some other package of the program; not vetted here.
		return cfg, format, fmt.Errorf("%w: %s", ErrUnsupported, format)
	}
	return cfg, format, nil
}

// decode decodes the pixels, the first frame for a GIF.
func decode(data []byte, format string) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: %s decoder panicked: %v", ErrCorrupt, format, p)
		}
	}()
	if format == "gif" {
		img, err = gif.Decode(bytes.NewReader(data)) // the first frame only
	} else {
		img, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
	}
	if c, ok := img.(*image.CMYK); ok {
		img = cmykToNRGBA(c) // the resampler has no fast path for CMYK
	}
	return img, nil
}

// Resampling filters. Catmull-Rom (bicubic) rather than Lanczos from the
// original: at the typical 2x to 20x reductions the results look the same,
// and its narrower kernel saves about a quarter of a 12 MP image's CPU time
// (BenchmarkRender12MPJPEGFilters). The cascade's later steps work on at
// most a few megapixels, where the filter's cost does not show; they use
// the same filter.
var (
	firstFilter   = imaging.CatmullRom
	cascadeFilter = imaging.CatmullRom
)

// job is a preset with its place in the plan.
type job struct {
	idx int // in the caller's presets
	p   Preset
	// need is the size, in the stored (unoriented) frame, that the source
	// must have at least in both sides to serve this preset without
	// enlarging: the scaled image before any crop.
	needW, needH int
}

// source is an uncropped, undistorted resize result another preset may
// start from.
type source struct {
	name string
	img  *image.NRGBA
}

func renderAll(ctx context.Context, src image.Image, orient int, presets []Preset) ([]Variant, error) {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	jobs := make([]job, len(presets))
	for i, p := range presets {
		jobs[i] = job{idx: i, p: p}
		jobs[i].needW, jobs[i].needH = needed(p, sw, sh, orient)
	}
	// Largest first, so that smaller presets can start from its result.
	slices.SortStableFunc(jobs, func(a, b job) int {
		return -cmpInt64(int64(a.needW)*int64(a.needH), int64(b.needW)*int64(b.needH))
	})

	out := make([]Variant, len(presets))
	var sources []source
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Smallest earlier result that is large enough, else the original.
		from, img, filter := "", src, firstFilter
		for _, s := range sources {
			sb := s.img.Bounds()
			if sb.Dx() >= j.needW && sb.Dy() >= j.needH && (img == src || sb.Dx() < img.Bounds().Dx()) {
				from, img, filter = s.name, s.img, cascadeFilter
			}
		}
		res := resize(img, j, orient, filter)
		if j.p.Mode == Fit {
			sources = append(sources, source{name: j.p.Name, img: res})
		}
		v, err := encode(orientImage(res, orient), j.p)
		if err != nil {
			return nil, fmt.Errorf("render: preset %q: %w", j.p.Name, err)
		}
		v.From = from
		out[j.idx] = v
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// box returns p's box in the stored frame: orientations 5 to 8 turn the
// image by a quarter, so the box turns with it. Orientation is applied
// after resizing, where it moves few pixels.
func box(p Preset, orient int) (w, h int) {
	if swapsSides(orient) {
		return p.Height, p.Width
	}
	return p.Width, p.Height
}

// needed returns the size p scales an sw x sh image to, before cropping.
func needed(p Preset, sw, sh, orient int) (int, int) {
	bw, bh := box(p, orient)
	switch p.Mode {
	case Fit:
		return fitSize(sw, sh, bw, bh)
	case Fill:
		s := math.Max(float64(bw)/float64(sw), float64(bh)/float64(sh))
		return max(bw, round(float64(sw)*s)), max(bh, round(float64(sh)*s))
	default:
		return bw, bh
	}
}

// fitSize scales sw x sh to lie inside bw x bh (0: unbounded), never up.
func fitSize(sw, sh, bw, bh int) (int, int) {
	s := 1.0
	if bw > 0 {
		s = math.Min(s, float64(bw)/float64(sw))
	}
	if bh > 0 {
		s = math.Min(s, float64(bh)/float64(sh))
	}
	return max(1, round(float64(sw)*s)), max(1, round(float64(sh)*s))
}

func round(f float64) int { return int(math.Floor(f + 0.5)) }

// resize makes j's image, not yet oriented, from img: the original or an
// earlier Fit result.
func resize(img image.Image, j job, orient int, filter imaging.ResampleFilter) *image.NRGBA {
	bw, bh := box(j.p, orient)
	switch j.p.Mode {
	case Fit:
		// The size planned from the original, not one recomputed from an
		// earlier, rounded result.
		return imaging.Resize(img, j.needW, j.needH, filter)
	case Fill:
		return imaging.Fill(img, bw, bh, imaging.Center, filter)
	default:
		return imaging.Resize(img, bw, bh, filter)
	}
}

func swapsSides(orient int) bool { return orient >= 5 && orient <= 8 }

// orientImage turns a stored-frame image upright per its EXIF orientation.
func orientImage(img *image.NRGBA, orient int) *image.NRGBA {
	switch orient {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// encode writes img in p's format. The encoders write no metadata.
func encode(img *image.NRGBA, p Preset) (Variant, error) {
	var buf bytes.Buffer
	b := img.Bounds()
	var err error
	if p.Format == PNG {
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, opaqueRGBA(img), &jpeg.Options{Quality: p.Quality})
	}
	if err != nil {
		return Variant{}, err
	}
	return Variant{Name: p.Name, Width: b.Dx(), Height: b.Dy(), ContentType: p.ContentType(), Data: buf.Bytes()}, nil
}

// opaqueRGBA flattens img onto white, as JPEG has no alpha and would show
// transparent pixels' hidden colour (often black). An opaque NRGBA has the
// same bytes as an RGBA, which image/jpeg encodes on its fast path.
func opaqueRGBA(img *image.NRGBA) *image.RGBA {
	if !img.Opaque() {
		bg := imaging.New(img.Bounds().Dx(), img.Bounds().Dy(), color.White)
		img = imaging.Overlay(bg, img, image.Point{}, 1)
	}
	return &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
}

// cmykToNRGBA converts with the standard library's CMYK formula.
func cmykToNRGBA(c *image.CMYK) *image.NRGBA {
	b := c.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		si := c.PixOffset(b.Min.X, b.Min.Y+y)
		di := y * dst.Stride
		for x := 0; x < b.Dx(); x++ {
			s := c.Pix[si : si+4 : si+4]
			r, g, bl := color.CMYKToRGB(s[0], s[1], s[2], s[3])
			d := dst.Pix[di : di+4 : di+4]
			d[0], d[1], d[2], d[3] = r, g, bl, 0xff
			si += 4
			di += 4
		}
	}
	return dst
}
