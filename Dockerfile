# Tidemark from source: `docker build -t tidemark .`, or `docker compose up` (compose.yml).
# The builder compiles the release binary; the runtime is a slim Debian of the same release
# (same glibc) with only CA certificates, running as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# DuckDB is compiled from source here (a long C++ build), so the image needs no libduckdb;
# the Spark client's build compiles Spark Connect's .proto files with protoc.
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev \
    && rm -rf /var/lib/apt/lists/*
RUN cargo build --release --locked -p tidemark --features warehouse-duckdb-bundled,warehouse-spark \
    && cp target/release/tidemark /usr/local/bin/tidemark

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/tidemark --create-home tidemark
COPY --from=build /usr/local/bin/tidemark /usr/local/bin/tidemark
# Owned by the user, so a named volume mounted here starts writable for it.
WORKDIR /var/lib/tidemark
USER tidemark
EXPOSE 8080
ENTRYPOINT ["tidemark"]
CMD ["--help"]
