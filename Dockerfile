# promptgate serve: multi-stage build, small non-root runtime image.
#
#   docker build -t promptgate .
#   docker run -p 8080:8080 -v promptgate-data:/data \
#     -e PROMPTGATE_WEBHOOK_SECRET=... -e PROMPTGATE_GITHUB_APP_ID=... \
#     -e PROMPTGATE_GITHUB_PRIVATE_KEY_PATH=/run/secrets/app.pem \
#     -e OPENAI_API_KEY=... \
#     -v ./app.pem:/run/secrets/app.pem:ro promptgate
#
# PostgreSQL instead of the SQLite file: -e PROMPTGATE_DATABASE_URL=postgres://user:pass@host/db

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artefacts between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin promptgate \
 && cp target/release/promptgate /usr/local/bin/promptgate \
 && mkdir -p /data

# distroless/cc: glibc and libgcc only, no shell; `nonroot` is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/promptgate /usr/local/bin/promptgate
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /data
ENV PROMPTGATE_DATABASE_URL=sqlite:///data/promptgate-server.db \
    PROMPTGATE_DATA_DIR=/data/repositories
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/promptgate", "serve", "--listen", "0.0.0.0:8080"]
