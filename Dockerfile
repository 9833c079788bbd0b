# The gateway's image, for machines with a container engine (`make image` builds the same image
# without one). Static binary, empty base, non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/switchboard ./cmd/switchboard \
 && mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/switchboard /switchboard
COPY --from=build /out/tmp /tmp
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.yaml"]
