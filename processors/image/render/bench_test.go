package render

import (
	"bytes"
	"context"
	"image"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

// photo is a w x h stand-in for a photograph: smooth gradients with noise,
// so that JPEG and PNG sizes and decoding costs are realistic rather than
// those of a flat colour.
func photo(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(3, 4))
	for y := range h {
		for x := range w {
			i := img.PixOffset(x, y)
			n := uint8(r.IntN(24))
			img.Pix[i] = uint8(x*255/w) + n
			img.Pix[i+1] = uint8(y*255/h) + n
			img.Pix[i+2] = uint8((x+y)*127/(w+h)) + n
			img.Pix[i+3] = 0xff
		}
	}
	return img
}

// defaultPresets are the three presets the performance target is set for.
var defaultPresets = []Preset{
	{Name: "thumb", Width: 200, Height: 200, Mode: Fill, Format: JPEG, Quality: 80},
	{Name: "preview", Width: 1024, Height: 1024, Mode: Fit, Format: JPEG, Quality: 85},
	{Name: "large", Width: 2048, Height: 2048, Mode: Fit, Format: JPEG, Quality: 85},
}

func benchRender(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		if _, _, err := Render(context.Background(), bytes.NewReader(data), defaultPresets, Limits{}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/image")
	// CPU time is steadier than wall time on a shared machine; with
	// resizing spread over the cores it can exceed the wall time.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/image")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRender12MPJPEG: a 4000x3000 JPEG to the three default presets.
func BenchmarkRender12MPJPEG(b *testing.B) {
	benchRender(b, encJPEG(b, photo(4000, 3000)))
}

// BenchmarkRender4MPPNG: a 2400x1600 PNG to the three default presets.
func BenchmarkRender4MPPNG(b *testing.B) {
	benchRender(b, encPNG(b, photo(2400, 1600)))
}

// BenchmarkRender12MPJPEGFilters is the 12 MP case with other filters for
// the first step (from the original) and the cascade's later steps.
func BenchmarkRender12MPJPEGFilters(b *testing.B) {
	data := encJPEG(b, photo(4000, 3000))
	filters := []struct {
		name string
		f    imaging.ResampleFilter
	}{{"lanczos", imaging.Lanczos}, {"catmullrom", imaging.CatmullRom}, {"linear", imaging.Linear}}
	savedFirst, savedCascade := firstFilter, cascadeFilter
	defer func() { firstFilter, cascadeFilter = savedFirst, savedCascade }()
	for _, first := range filters {
		for _, cascade := range filters {
			b.Run(first.name+"-then-"+cascade.name, func(b *testing.B) {
				firstFilter, cascadeFilter = first.f, cascade.f
				benchRender(b, data)
			})
		}
	}
}

// BenchmarkDecode12MPJPEG is decoding alone, the floor of the above.
func BenchmarkDecode12MPJPEG(b *testing.B) {
	data := encJPEG(b, photo(4000, 3000))
	b.ResetTimer()
	for b.Loop() {
		if _, err := decode(data, "jpeg"); err != nil {
			b.Fatal(err)
		}
	}
}
