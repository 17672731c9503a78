package chart

import (
	"bytes"
	"image/png"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
)

func TestRender(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	var ss []demand.Sample
	for m := 0; m < 2*7*24*60; m += 5 {
		at := start.Add(time.Duration(m) * time.Minute)
		cu := 10.0
		if h := at.Hour(); h >= 8 && h < 18 && at.Weekday() != time.Saturday && at.Weekday() != time.Sunday {
			cu = 100 + float64(m%60)
		}
		ss = append(ss, demand.Sample{Time: at, CU: cu})
	}
	p, err := demand.Build(ss, start.Add(2*demand.Week), demand.Config{Weeks: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := plan.Compile(p.Requirement(0.9), plan.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, Input{Title: "queue test", Profile: p, Quantile: 0.9, Schedule: s}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 520 {
		t.Fatalf("size %v", b)
	}
	red, blue := 0, 0
	for y := 0; y < 520; y++ {
		for x := 0; x < 1400; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 215 && g>>8 == 50 && b>>8 == 40 {
				red++
			}
			if r>>8 == 190 && g>>8 == 215 && b>>8 == 245 {
				blue++
			}
		}
	}
	if red < 1000 || blue < 1000 {
		t.Fatalf("plan pixels %d, band pixels %d: chart looks empty", red, blue)
	}
	if err := Render(&buf, Input{Profile: p}); err == nil {
		t.Fatal("no schedule: want an error")
	}
	if err := Render(&buf, Input{Profile: p, Schedule: s, Width: 10}); err == nil {
		t.Fatal("tiny size: want an error")
	}
}

func TestTextUnknownRune(t *testing.T) {
	if textWidth("ab€", 2) != 36 {
		t.Fatal("width")
	}
}
