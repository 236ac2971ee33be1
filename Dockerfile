# Elevate: a static binary on a distroless, non-root base.
#   docker build -t elevate .
#   docker run -p 8080:8080 -v elevate-data:/data --env-file elevate.env elevate serve -config /etc/elevate/elevate.yaml
#
# Base images are pinned by digest (the multi-platform index digest), with the tag kept for
# readers: the tag says what the image is, the digest decides which bytes are built on. A base
# update is a reviewed commit: .github/dependabot.yml proposes new digests weekly. To check one by
# hand: `docker buildx imagetools inspect golang:1.26` (or `crane digest`).
FROM golang:1.26@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/elevate .
# The store's directory, owned by the nonroot user (65532): distroless has no shell to make it.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
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
