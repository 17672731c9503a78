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
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	sum := 0.0
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
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
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
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	out := map[string]float64{}
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
		_, rest, found := strings.Cut(lbl, label+`="`)
		if !match || !found {
			continue
		}
		key, _, _ := strings.Cut(rest, `"`)
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[key] += v
		}
	}
	return out, sc.Err()
}
