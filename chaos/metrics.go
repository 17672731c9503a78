package chaos

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MetricSum scrapes base+"/metrics" and sums the samples of metric name
// whose label set contains every one of labels (each `key="value"`; a
// leading "!" means the label set must not contain it).
func MetricSum(base, name string, labels ...string) (float64, error) {
	sum := 0.0
	err := scrapeMetric(base, name, labels, func(_ string, v float64) { sum += v })
	return sum, err
}

// scrapeMetric scrapes base+"/metrics" and calls fn with the label set
// (the text between the braces) and value of every sample of metric name
// whose label set matches labels (as in MetricSum).
func scrapeMetric(base, name string, labels []string, fn func(lbl string, v float64)) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		metric, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, lbl, _ := strings.Cut(metric, "{")
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			if neg, ok := strings.CutPrefix(l, "!"); ok {
				match = match && !strings.Contains(lbl, neg)
			} else {
				match = match && strings.Contains(lbl, l)
			}
		}
		if !match {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			fn(lbl, v)
		}
	}
	return sc.Err()
}

// Get fetches base+path and returns the status code and body.
func Get(base, path string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return resp.StatusCode, b.String(), nil
}

// MetricByLabel scrapes base+"/metrics" and sums metric name by the value
// of label, over the samples whose label set contains every one of labels
// (as in MetricSum).
func MetricByLabel(base, name, label string, labels ...string) (map[string]float64, error) {
	out := map[string]float64{}
	err := scrapeMetric(base, name, labels, func(lbl string, v float64) {
		if _, rest, found := strings.Cut(lbl, label+`="`); found {
			key, _, _ := strings.Cut(rest, `"`)
			out[key] += v
		}
	})
	return out, err
}
