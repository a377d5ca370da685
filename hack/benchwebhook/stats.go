package main

import (
	"slices"
	"time"
)

type summary struct {
	p50, p99, mean time.Duration
}

func summarize(d []time.Duration) summary {
	s := slices.Clone(d)
	slices.Sort(s)
	var total time.Duration
	for _, x := range s {
		total += x
	}
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(s)-1) + 0.5)
		return s[i]
	}
	return summary{p50: pct(0.50), p99: pct(0.99), mean: total / time.Duration(len(s))}
}
