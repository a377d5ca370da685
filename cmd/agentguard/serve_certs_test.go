package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestStartCertRotationRefusesBadFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		o    serveOptions
		want string
	}{
		{"off is a no-op", serveOptions{}, ""},
		{"no cert dir", serveOptions{certRotation: certRotationOptions{enabled: true, namespace: "ns"}}, "--cert-dir"},
		{"with self-signed", serveOptions{certDir: "d", selfSigned: true, certRotation: certRotationOptions{enabled: true, namespace: "ns"}}, "--self-signed"},
		{"no namespace", serveOptions{certDir: "d", certRotation: certRotationOptions{enabled: true}}, "--cert-namespace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := startCertRotation(context.Background(), &c.o, log)
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %s", err, c.want)
			}
		})
	}
}

func TestCertRotationFlags(t *testing.T) {
	cmd := newServeCmd(&globalFlags{})
	if err := cmd.ParseFlags([]string{"--cert-rotation", "--cert-secret=s", "--cert-namespace=ns", "--webhook-service=svc",
		"--webhook-config-name=a", "--webhook-config-name=b"}); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"cert-rotation": "true", "cert-secret": "s", "cert-namespace": "ns",
		"webhook-service": "svc", "webhook-config-name": "[a,b]"} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", flag, got, want)
		}
	}
}
