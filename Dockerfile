# The ferry image: a static binary on distroless, running as the non-root user 65532.
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) -t ghcr.io/ferry-cd/ferry:TAG .
FROM golang:1.26 AS build
# Build with the image's Go; never download another toolchain.
ENV GOTOOLCHAIN=local
WORKDIR /src
# Modules first, so that a source change reuses the downloaded modules' layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/ferry-cd/ferry/internal/buildinfo.Version=${VERSION} -X github.com/ferry-cd/ferry/internal/buildinfo.Commit=${COMMIT}" \
      -o /ferry ./cmd/ferry

FROM gcr.io/distroless/static:nonroot
COPY --from=build /ferry /ferry
USER 65532:65532
ENTRYPOINT ["/ferry"]
