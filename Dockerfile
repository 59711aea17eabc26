# One image for every streamchat program; docker-compose.yml picks the command.
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential pkg-config \
    libfcgi-dev libwebsockets-dev libhiredis-dev libjson-c-dev libcurl4-openssl-dev libuv1-dev libssl-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src ./src
COPY t/unit ./t/unit
RUN make -j2 bin/chat-fcgi bin/ws-relay bin/ai-streamer bin/recoverd bin/archiver bin/chat-cli

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends libfcgi0ldbl libwebsockets17 \
    libhiredis0.14 libjson-c5 libcurl4 libuv1 libssl3 libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd -r -u 10001 streamchat
COPY --from=build /src/bin/ /opt/streamchat/bin/
COPY share /opt/streamchat/share
ENV SHARE_DIR=/opt/streamchat/share PATH=/opt/streamchat/bin:$PATH
USER streamchat
