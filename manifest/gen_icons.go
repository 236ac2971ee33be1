//go:build ignore

// gen_icons draws the Teams app icons: color.png (192×192, full colour) and outline.png (32×32,
// white on transparent). Run `go generate ./manifest` after changing it; the PNGs are committed.
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

var (
	accent = color.NRGBA{0x44, 0x64, 0xEE, 0xFF} // the manifest's accentColor
	white  = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
)

func main() {
	write("teams/color.png", draw(192, true))
	write("teams/outline.png", draw(32, false))
}

// draw renders an upward chevron over a bar ("elevate") on a rounded square (colour) or on
// nothing (outline). Shapes are tested per pixel with 4×4 supersampling; the outline keeps
// only fully white or fully transparent pixels, as Teams asks.
func draw(size int, filled bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size)
	radius := s * 0.22
	inSquare := func(x, y float64) bool {
		cx, cy := math.Max(radius-x, math.Max(0, x-(s-radius))), math.Max(radius-y, math.Max(0, y-(s-radius)))
		return cx*cx+cy*cy <= radius*radius
	}
	// Chevron: two thick strokes meeting at the top; bar below.
	stroke := s * 0.11
	if !filled {
		stroke = s * 0.13
	}
	apexX, apexY := s*0.5, s*0.24
	armX, armY := s*0.25, s*0.5
	inChevron := func(x, y float64) bool {
		return distSeg(x, y, apexX, apexY, armX, armY) <= stroke/2 || distSeg(x, y, apexX, apexY, s-armX, armY) <= stroke/2
	}
	inBar := func(x, y float64) bool {
		return x >= s*0.28 && x <= s*0.72 && y >= s*0.66 && y <= s*0.66+stroke
	}
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var sq, fg int
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					x, y := float64(px)+(float64(sx)+0.5)/4, float64(py)+(float64(sy)+0.5)/4
					if inSquare(x, y) {
						sq++
					}
					if inChevron(x, y) || inBar(x, y) {
						fg++
					}
				}
			}
			if filled {
				if sq == 0 {
					continue
				}
				c := blend(accent, white, float64(fg)/16)
				c.A = uint8(255 * sq / 16)
				img.SetNRGBA(px, py, c)
			} else if fg >= 8 {
				img.SetNRGBA(px, py, white)
			}
		}
	}
	return img
}

func blend(a, b color.NRGBA, t float64) color.NRGBA {
	mix := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t + 0.5) }
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 0xFF}
}

func distSeg(px, py, ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	t := math.Max(0, math.Min(1, ((px-ax)*dx+(py-ay)*dy)/(dx*dx+dy*dy)))
	return math.Hypot(px-(ax+t*dx), py-(ay+t*dy))
}

func write(path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
