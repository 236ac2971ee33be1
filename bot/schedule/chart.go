package schedule

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/elevate-pim/elevate/store"
)

// The digest's chart: horizontal bars of activations per role, through Elevate and outside it,
// drawn with the standard library's image packages and x/image's built-in bitmap font. A chart
// library (gonum/plot) would bring fonts, PDF, SVG and LaTeX back ends for one bar chart.

var (
	chartBG        = color.RGBA{0xff, 0xff, 0xff, 0xff}
	chartInk       = color.RGBA{0x22, 0x22, 0x22, 0xff}
	chartGrid      = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	chartElevate   = color.RGBA{0x2f, 0x6f, 0xdf, 0xff}
	chartOutside   = color.RGBA{0xf0, 0x8c, 0x24, 0xff}
	chartPermanent = color.RGBA{0x8a, 0x4f, 0xc8, 0xff}
	chartFailed    = color.RGBA{0xd6, 0x3a, 0x3a, 0xff}
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
	return ChartWithTrends(title, counts, nil, time.UTC)
}

// trendH is the height of the weekly trends section under the bars.
const trendH = 150

// ChartWithTrends is Chart with, when there are two weeks or more, a section under the bars: the
// permanent assignments and the failed or denied attempts of each of the last weeks (the PIM
// rollout guide's "should decrease" and "may indicate compromised accounts" numbers).
func ChartWithTrends(title string, counts []Count, weeks []store.Snapshot, loc *time.Location) ([]byte, error) {
	if len(counts) > maxBars {
		counts = counts[:maxBars]
	}
	if len(weeks) > 12 {
		weeks = weeks[len(weeks)-12:]
	}
	rows := max(len(counts), 1)
	h := chartTop + rows*chartRow + 46
	barsH := h
	if len(weeks) >= 2 {
		h += trendH
	}
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
	ly := barsH - 10
	fill(img, chartLabel, ly-9, 10, 10, chartElevate)
	text(img, chartLabel+14, ly, "through Elevate", chartInk)
	fill(img, chartLabel+150, ly-9, 10, 10, chartOutside)
	text(img, chartLabel+164, ly, "outside (portal, PowerShell)", chartInk)

	if len(weeks) >= 2 {
		drawTrends(img, barsH, weeks, loc)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// drawTrends draws, from y top, two bars per week: permanent assignments and failed attempts.
func drawTrends(img *image.RGBA, top int, weeks []store.Snapshot, loc *time.Location) {
	fill(img, 12, top, chartW-24, 1, chartGrid)
	text(img, 12, top+20, fmt.Sprintf("Last %d weeks", len(weeks)), chartInk)
	most := 1
	for _, w := range weeks {
		most = max(most, w.Permanent, w.Failed)
	}
	base := top + trendH - 30
	plotH := trendH - 70
	colW := (chartW - 40) / len(weeks)
	for i, w := range weeks {
		x := 20 + i*colW
		ph := w.Permanent * plotH / most
		fh := w.Failed * plotH / most
		fill(img, x, base-ph, colW/3, ph, chartPermanent)
		fill(img, x+colW/3+2, base-fh, colW/3, fh, chartFailed)
		text(img, x, base-max(ph, fh)-4, fmt.Sprintf("%d/%d", w.Permanent, w.Failed), chartInk)
		text(img, x, base+14, w.At.In(loc).Format("2 Jan"), chartInk)
	}
	ly := top + trendH - 4
	fill(img, chartLabel, ly-9, 10, 10, chartPermanent)
	text(img, chartLabel+14, ly, "permanent assignments", chartInk)
	fill(img, chartLabel+200, ly-9, 10, 10, chartFailed)
	text(img, chartLabel+214, ly, "failed or denied", chartInk)
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
