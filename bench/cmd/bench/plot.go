package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{0, 0, 0, 255}
	grey      = color.RGBA{160, 160, 160, 255}
	lightGrey = color.RGBA{225, 225, 225, 255}
	red       = color.RGBA{200, 40, 40, 255}
	green     = color.RGBA{0, 140, 0, 255}
	palette   = map[string]color.RGBA{
		"ours-poll":  {31, 119, 180, 255},
		"ours-watch": {44, 160, 44, 255},
		"python":     {255, 127, 14, 255},
		"client-go":  {148, 103, 189, 255},
	}
)

// panel is one group of rows of the plot: a figure, one row per contender.
type panel struct {
	Title  string
	Lease  time.Duration // drawn as a line; 0 for none
	Target time.Duration // a target, drawn as a line; 0 for none
	Rows   []plotRow
}

type plotRow struct {
	Label  string
	Key    string
	Values []float64 // seconds
}

const (
	plotW     = 1100
	leftW     = 230
	rightW    = 40
	rowH      = 26
	panelGap  = 34
	topH      = 72
	bottomH   = 50
	minSecond = 0.001
	maxSecond = 60.0
)

// writePlot draws the handover and failover distributions per contender.
func writePlot(path string, r *results) error {
	var panels []panel
	add := func(title string, lease, target time.Duration, m map[string]*trialSet, pick func(*trialSet) []time.Duration) {
		pn := panel{Title: title, Lease: lease, Target: target}
		for _, c := range r.Contenders {
			var v []float64
			if ts, ok := m[c.Key]; ok && ts != nil {
				v = durations(pick(ts))
			}
			pn.Rows = append(pn.Rows, plotRow{Label: c.Label, Key: c.Key, Values: v})
		}
		panels = append(panels, pn)
	}
	add("Handover after SIGTERM (graceful stop), 4s/3s/1s", fastTiming.Lease, 100*time.Millisecond, r.Fast, func(t *trialSet) []time.Duration { return t.Handover })
	add("Failover after SIGKILL (crash), 4s/3s/1s", fastTiming.Lease, 0, r.Fast, func(t *trialSet) []time.Duration { return t.Failover })
	add("Failover after SIGKILL (crash), 15s/10s/2s", defaultTiming.Lease, 0, r.Defaults, func(t *trialSet) []time.Duration { return t.Failover })
	add("Failover minus the lease's expiry, 4s/3s/1s", 0, 100*time.Millisecond, r.Fast, func(t *trialSet) []time.Duration { return t.PastExpiry })
	add("Failover minus the lease's expiry, 15s/10s/2s", 0, 100*time.Millisecond, r.Defaults, func(t *trialSet) []time.Duration { return t.PastExpiry })

	h := topH + bottomH
	for _, pn := range panels {
		h += panelGap + len(pn.Rows)*rowH
	}
	img := image.NewRGBA(image.Rect(0, 0, plotW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)

	x0, x1 := leftW, plotW-rightW
	xOf := func(sec float64) int {
		sec = math.Min(math.Max(sec, minSecond), maxSecond)
		f := (math.Log10(sec) - math.Log10(minSecond)) / (math.Log10(maxSecond) - math.Log10(minSecond))
		return x0 + int(math.Round(f*float64(x1-x0)))
	}
	title := "Leader handover and failover: time from the signal (or the lease's expiry) to the next started_leading, log scale"
	text(img, 10, 20, title, black)
	sub := "one dot per trial, bar = median, grey line = min to max; dashed red = LeaseDuration, dashed green = the 100 ms target"
	sub2 := fmt.Sprintf("values under 1 ms are drawn at 1 ms; run of %s", r.Start.Format("2006-01-02 15:04"))
	if r.Quick {
		sub2 += " (-quick: few trials)"
	}
	text(img, 10, 54, sub2, grey)
	text(img, 10, 38, sub, grey)

	// Grid and axis labels.
	ticks := []float64{0.001, 0.01, 0.1, 1, 10, 60}
	labels := []string{"1 ms", "10 ms", "100 ms", "1 s", "10 s", "60 s"}
	yTop, yBottom := topH, h-bottomH
	for _, t := range ticks {
		vline(img, xOf(t), yTop, yBottom, lightGrey, false)
	}
	for i, t := range ticks {
		text(img, xOf(t)-len(labels[i])*7/2, yBottom+18, labels[i], black)
	}
	hline(img, x0, x1, yBottom, black)

	rng := rand.New(rand.NewPCG(1, 2))
	y := topH
	for _, pn := range panels {
		y += panelGap
		text(img, 10, y-8, pn.Title, black)
		if pn.Lease > 0 {
			vline(img, xOf(pn.Lease.Seconds()), y, y+len(pn.Rows)*rowH, red, true)
		}
		if pn.Target > 0 {
			vline(img, xOf(pn.Target.Seconds()), y, y+len(pn.Rows)*rowH, green, true)
		}
		for _, row := range pn.Rows {
			mid := y + rowH/2
			text(img, 20, mid+4, row.Label, black)
			col := palette[row.Key]
			if len(row.Values) == 0 {
				text(img, x0+6, mid+4, "not measured", grey)
			} else {
				s := summarize(row.Values)
				hline(img, xOf(s.Min), xOf(s.Max), mid, grey)
				for _, v := range row.Values {
					dot(img, xOf(v), mid+rng.IntN(9)-4, 3, col)
				}
				xm := xOf(s.Median)
				fill(img, image.Rect(xm-1, mid-10, xm+2, mid+11), black)
				label := fmtSeconds(s.Median)
				text(img, min(xm+6, x1-len(label)*7), mid-3, label, black)
			}
			y += rowH
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

func hline(img *image.RGBA, xa, xb, y int, c color.Color) {
	if xa > xb {
		xa, xb = xb, xa
	}
	fill(img, image.Rect(xa, y, xb+1, y+1), c)
}

func vline(img *image.RGBA, x, ya, yb int, c color.Color, dashed bool) {
	for y := ya; y <= yb; y++ {
		if dashed && (y/4)%2 == 1 {
			continue
		}
		img.Set(x, y, c)
	}
}

func dot(img *image.RGBA, cx, cy, r int, c color.Color) {
	for dy := -r; dy <= r; dy++ {
		for dx := -r; dx <= r; dx++ {
			if dx*dx+dy*dy <= r*r {
				img.Set(cx+dx, cy+dy, c)
			}
		}
	}
}
