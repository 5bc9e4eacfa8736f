# The course in a container, for machines where the pinned stack has no wheel (Intel Macs, Windows
# without WSL2) and for MXNet's lessons on x86_64 hosts. Multi-arch base: it runs natively as
# linux/arm64 on Apple Silicon (there, as on Linux aarch64, lessons 03-05 are skipped: MXNet's
# aarch64 wheel needs the Arm Performance Libraries). Built by the user (README, "Where it runs"):
#   docker build -t deeprec .
#   docker run --rm -p 8888:8888 deeprec      # then open the http://127.0.0.1:8888/lab?token=... link it prints
FROM python:3.12-slim
# make runs the set-up; MXNet's x86_64 library links the system's OpenMP and quadmath runtimes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make libgomp1 \
    $([ "$(dpkg --print-architecture)" = amd64 ] && echo libquadmath0) \
 && rm -rf /var/lib/apt/lists/*
# The environment lives outside the sources, so a mounted checkout (the dev container) keeps it.
ENV VENV=/opt/venv PIP_NO_CACHE_DIR=1
WORKDIR /course
COPY . .
RUN make venv
EXPOSE 8888
CMD ["make", "lab", "LAB_ARGS=--ip=0.0.0.0 --port=8888 --no-browser --allow-root"]
