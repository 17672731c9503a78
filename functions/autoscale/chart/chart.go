// Package chart draws the weekly demand profile of a queue with its compiled
// plan over it as a PNG: the p50–p95 band of each hour's demand, the maximum,
// the planned quantile, and the scheduled queue size as a step line. Pure Go
// (image/png and a built-in 5×7 font), no dependencies.
package chart

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
)

// Input is what Render draws.
type Input struct {
	// Title is written at the top left, e.g. "queue etl".
	Title string
	// Profile is the learned weekly demand.
	Profile *demand.Profile
	// Quantile is the quantile the plan covers (drawn as a line).
	Quantile float64
	// Schedule is the compiled weekly plan (168 one-hour slots).
	Schedule *plan.Schedule
	// Width and Height are the image size in pixels. Defaults 1400 × 520.
	Width, Height int
	// Zone names the time zone of the week on the x axis. Default "UTC".
	Zone string
}

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{30, 30, 30, 255}
	grid   = color.RGBA{225, 225, 225, 255}
	band   = color.RGBA{190, 215, 245, 255}
	maxCol = color.RGBA{150, 150, 150, 255}
	qCol   = color.RGBA{40, 100, 200, 255}
	planC  = color.RGBA{215, 50, 40, 255}
)

// Render writes the chart as PNG to w.
func Render(w io.Writer, in Input) error {
	if in.Profile == nil || in.Schedule == nil {
		return errors.New("chart: need a profile and a schedule")
	}
	if len(in.Schedule.Levels) != demand.Slots || in.Schedule.CycleMinutes != demand.Slots*60 {
		return fmt.Errorf("chart: schedule has %d slots, want %d one-hour slots", len(in.Schedule.Levels), demand.Slots)
	}
	W, H := in.Width, in.Height
	if W == 0 {
		W = 1400
	}
	if H == 0 {
		H = 520
	}
	if W < 400 || H < 200 || W > 8000 || H > 4000 {
		return fmt.Errorf("chart: size %d×%d out of range", W, H)
	}
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	left, right, top, bottom := 70, 20, 50, 50
	pw, ph := W-left-right, H-top-bottom

	p50, p95, pmax, pq := in.Profile.Quantiles(0.5), in.Profile.Quantiles(0.95), in.Profile.Quantiles(1), in.Profile.Quantiles(in.Quantile)
	ymax := 16.0
	for h := 0; h < demand.Slots; h++ {
		ymax = math.Max(ymax, math.Max(pmax[h], float64(in.Schedule.Levels[h])))
	}
	for _, c := range in.Schedule.Changes {
		ymax = math.Max(ymax, float64(c.TargetCU))
	}
	step := niceStep(ymax / 5)
	ymax = math.Ceil(ymax*1.05/step) * step
	xOf := func(minute float64) int { return left + int(minute/float64(demand.Slots*60)*float64(pw)) }
	yOf := func(v float64) int { return top + ph - int(v/ymax*float64(ph)) }

	// Grid and axes labels.
	for v := 0.0; v <= ymax+1e-9; v += step {
		y := yOf(v)
		hline(img, left, left+pw, y, grid)
		lbl := fmt.Sprintf("%g", v)
		text(img, left-8-textWidth(lbl, 2), y-7, 2, lbl, black)
	}
	days := []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	for d := 0; d < 7; d++ {
		x := xOf(float64(d * 24 * 60))
		vline(img, x, top, top+ph, grid)
		for _, hh := range []int{6, 12, 18} {
			xx := xOf(float64((d*24 + hh) * 60))
			for y := top + ph - 6; y < top+ph; y++ {
				img.Set(xx, y, maxCol)
			}
		}
		xc := xOf(float64(d*24*60+12*60)) - textWidth(days[d], 2)/2
		text(img, xc, top+ph+10, 2, days[d], black)
	}
	// Demand band p50–p95, max and quantile lines.
	for h := 0; h < demand.Slots; h++ {
		x0, x1 := xOf(float64(h*60)), xOf(float64((h+1)*60))
		lo, hi := yOf(p50[h]), yOf(math.Max(p95[h], p50[h]))
		fill(img, x0, hi, x1, lo+1, band)
		hline(img, x0, x1, yOf(pmax[h]), maxCol)
		thick(img, x0, x1, yOf(pq[h]), qCol)
	}
	// The plan: scheduled size minute by minute.
	prev := -1
	for m := 0; m < demand.Slots*60; m++ {
		y := yOf(float64(in.Schedule.LevelAt(m)))
		x := xOf(float64(m))
		if prev >= 0 && prev != y {
			vline(img, x, min(prev, y), max(prev, y), planC)
			vline(img, x+1, min(prev, y), max(prev, y), planC)
		}
		thick(img, x, x+1, y, planC)
		prev = y
	}
	// Frame, title and legend.
	hline(img, left, left+pw, top+ph, black)
	vline(img, left, top, top+ph, black)
	text(img, left, 14, 3, in.Title, black)
	x := left + textWidth(in.Title, 3) + 40
	x = legend(img, x, 20, band, "p50-p95 demand")
	x = legend(img, x, 20, maxCol, "max")
	x = legend(img, x, 20, qCol, fmt.Sprintf("p%g", in.Quantile*100))
	legend(img, x, 20, planC, fmt.Sprintf("plan (%d changes, %.0f CU-h/week)", len(in.Schedule.Changes), in.Schedule.CUHours()))
	text(img, 8, top-22, 2, "CU", black)
	zone := in.Zone
	if zone == "" {
		zone = "UTC"
	}
	axis := "hour of week (" + zone + ")"
	text(img, left+pw-textWidth(axis, 2), H-18, 2, axis, black)
	return png.Encode(w, img)
}

func legend(img *image.RGBA, x, y int, c color.Color, label string) int {
	fill(img, x, y, x+24, y+12, c)
	return text(img, x+30, y, 2, label, black) + 30
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

func thick(img *image.RGBA, x0, x1, y int, c color.Color) {
	hline(img, x0, x1, y, c)
	hline(img, x0, x1, y-1, c)
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}
