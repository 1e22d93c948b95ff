# syntax=docker/dockerfile:1
# capacity lab images: one builder stage, three small runtime images (one per binary).
#
#   docker build --target server  -t capacity-lab/analyze-server:0.1.0 .   # also the default target
#   docker build --target mocks   -t capacity-lab/mocks:0.1.0 .
#   docker build --target loadgen -t capacity-lab/loadgen:0.1.0 .
#
# Static binaries (x86_64-unknown-linux-musl) rather than glibc + distroless/cc:
# - no glibc version coupling between the builder image and the runtime image;
# - musl's own DNS resolver works in a static binary (static glibc needs NSS modules at run time
#   to resolve `mock-claude` or `api.anthropic.com`);
# - the only C code in the tree is ring (TLS via rustls), which builds with musl-gcc.
# Cost: musl's allocator is slower than glibc's under many threads, so CPU-per-request figures from
# these images are not comparable with the README's (measured on glibc). See deploy/README.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim AS build
# musl-gcc compiles ring's C and assembly for the musl target. Debian's package is the one the
# base image's release ships; pinning its version would break on every point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY mocks mocks
COPY server server
COPY loadgen loadgen
COPY report report
# A workspace member (its libFuzzer target needs --features fuzz, so it is not built here).
COPY fuzz fuzz
# The cache mounts keep the registry and target dir between builds; binaries are copied out in the
# same step because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl --bins \
 && mkdir -p /out \
 && cp target/x86_64-unknown-linux-musl/release/analyze-server \
       target/x86_64-unknown-linux-musl/release/mocks \
       target/x86_64-unknown-linux-musl/release/loadgen /out/

# distroless static: no shell, no package manager; CA certificates, tzdata and a nonroot user
# (65532). A numeric USER lets Kubernetes' runAsNonRoot verify it without a runAsUser.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="capacity lab" \
      org.opencontainers.image.licenses="MIT"
USER 65532:65532

FROM runtime AS mocks
COPY --from=build /out/mocks /usr/local/bin/mocks
COPY mocks/profiles /usr/local/share/capacity-lab/profiles
# The mocks bind 127.0.0.1 by default; in a container they must listen on every interface.
ENV MOCK_HOST=0.0.0.0
EXPOSE 9100 9200
ENTRYPOINT ["/usr/local/bin/mocks"]
CMD ["all", "--profile", "/usr/local/share/capacity-lab/profiles/demo.toml"]

FROM runtime AS loadgen
COPY --from=build /out/loadgen /usr/local/bin/loadgen
# loadgen writes reports/runs/<ts>/ relative to its working directory unless told otherwise.
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/loadgen"]
CMD ["--help"]

# Last, so a plain `docker build .` produces the server.
FROM runtime AS server
COPY --from=build /out/analyze-server /usr/local/bin/analyze-server
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/analyze-server"]
