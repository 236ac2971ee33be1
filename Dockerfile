# Elevate: a static binary on a distroless, non-root base.
#   docker build -t elevate .
#   docker run -p 8080:8080 -v elevate-data:/data --env-file elevate.env elevate serve -config /etc/elevate/elevate.yaml
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/elevate .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/elevate /usr/local/bin/elevate
COPY examples/elevate.yaml /etc/elevate/elevate.yaml
# The store lives on a volume; the nonroot user (65532) owns it.
VOLUME /data
WORKDIR /data
USER nonroot:nonroot
# 8080: chat, sign-in and probes; 9090: /metrics, for the scraper only.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/elevate"]
CMD ["serve", "-config", "/etc/elevate/elevate.yaml", "-db", "/data/elevate.db", "-listen", ":8080", "-metrics-addr", ":9090"]
