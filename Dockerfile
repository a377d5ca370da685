# syntax=docker/dockerfile:1
# agentguard: one static binary for the admission webhook and the PDP.
#
#   docker buildx build \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     -t ghcr.io/agentguard/agentguard:$(git describe --tags --always) .
#
# Pin the base images by digest in release builds (e.g. with Renovate).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/agentguard ./cmd/agentguard

# distroless/static: no shell, no package manager; user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/agentguard/agentguard
ARG LICENSES=NOASSERTION
ARG AUTHORS="agentguard maintainers"
LABEL org.opencontainers.image.title="agentguard" \
      org.opencontainers.image.description="Kubernetes-native guardrails for AI agents: admission webhook and policy decision point" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.authors="${AUTHORS}"
COPY --from=build /out/agentguard /usr/local/bin/agentguard
# The default bundle, for trying agentguard out (unsigned: production
# installs point bundle.source at a signed bundle).
COPY policies /etc/agentguard/policies
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agentguard"]
CMD ["serve", "--help"]
