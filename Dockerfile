# Elevate: a static binary on a distroless, non-root base.
#   docker build -t elevate .
#   docker run -p 8080:8080 -v elevate-data:/data --env-file elevate.env elevate serve -config /etc/elevate/elevate.yaml
#
# Base images are pinned by tag only: their digests could not be looked up where this file was
# written (no registry access). Before building for production, resolve each tag to its current
# digest (`docker buildx imagetools inspect <image>`, or crane digest) and append it as
# <image>@sha256:<digest>, on the FROM lines where the "# digest:" lines below say.
# digest: golang:1.26 -> FILL IN (sha256:…); not invented here
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/elevate .
# The store's directory, owned by the nonroot user (65532): distroless has no shell to make it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

# digest: gcr.io/distroless/static-debian12:nonroot -> FILL IN (sha256:…); not invented here
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/elevate /elevate
COPY examples/elevate.yaml /etc/elevate/elevate.yaml
COPY --from=build --chown=65532:65532 /out/data /data
# The store lives on a volume; a new named volume takes /data's owner (nonroot) from the image.
VOLUME /data
WORKDIR /data
USER 65532:65532
ENV ELEVATE_LISTEN=:8080
# 8080: chat, sign-in and probes; 9090: /metrics, for the scraper only.
EXPOSE 8080 9090
# No shell or curl in the image: the binary asks its own /healthz (ELEVATE_LISTEN's port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/elevate", "health"]
ENTRYPOINT ["/elevate"]
CMD ["serve", "-config", "/etc/elevate/elevate.yaml", "-db", "/data/elevate.db", "-metrics-addr", ":9090"]
