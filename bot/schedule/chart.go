package schedule

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The digest's chart: horizontal bars of activations per role, through Elevate and outside it,
// drawn with the standard library's image packages and x/image's built-in bitmap font. A chart
// library (gonum/plot) would bring fonts, PDF, SVG and LaTeX back ends for one bar chart.

var (
	chartBG      = color.RGBA{0xff, 0xff, 0xff, 0xff}
	chartInk     = color.RGBA{0x22, 0x22, 0x22, 0xff}
	chartGrid    = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	chartElevate = color.RGBA{0x2f, 0x6f, 0xdf, 0xff}
	chartOutside = color.RGBA{0xf0, 0x8c, 0x24, 0xff}
)

const (
	chartW     = 720
	chartLabel = 260 // width of the role-name column
	chartRow   = 22
	chartTop   = 44
	maxBars    = 12
)

// Chart draws counts as a PNG bar chart with title above it. No counts gives a chart that says so.
func Chart(title string, counts []Count) ([]byte, error) {
	if len(counts) > maxBars {
		counts = counts[:maxBars]
	}
	rows := max(len(counts), 1)
	h := chartTop + rows*chartRow + 46
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{chartBG}, image.Point{}, draw.Src)
	text(img, 12, 20, title, chartInk)

	most := 1
	for _, c := range counts {
		most = max(most, c.Total())
	}
	plotW := chartW - chartLabel - 60
	step := (most + 3) / 4 // four whole-number grid steps
	scale := float64(plotW) / float64(4*step)
	for i := 0; i <= 4; i++ {
		x := chartLabel + plotW*i/4
		fill(img, x, chartTop-4, 1, rows*chartRow+4, chartGrid)
		text(img, x-3, chartTop+rows*chartRow+14, fmt.Sprint(step*i), chartInk)
	}
	if len(counts) == 0 {
		text(img, chartLabel+8, chartTop+15, "no activations", chartInk)
	}
	for i, c := range counts {
		y := chartTop + i*chartRow
		name := c.Name
		if len(name) > 36 {
			name = name[:33] + "..."
		}
		text(img, 12, y+15, name, chartInk)
		in := int(float64(c.Elevate) * scale)
		out := int(float64(c.Outside) * scale)
		fill(img, chartLabel, y+4, in, chartRow-8, chartElevate)
		fill(img, chartLabel+in, y+4, out, chartRow-8, chartOutside)
		text(img, chartLabel+in+out+6, y+15, fmt.Sprint(c.Total()), chartInk)
	}
	ly := h - 10
	fill(img, chartLabel, ly-9, 10, 10, chartElevate)
	text(img, chartLabel+14, ly, "through Elevate", chartInk)
	fill(img, chartLabel+150, ly-9, 10, 10, chartOutside)
	text(img, chartLabel+164, ly, "outside (portal, PowerShell)", chartInk)

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	if w <= 0 || h <= 0 {
		return
	}
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
