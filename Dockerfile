# The gitcanary controller image (flux/deployment.yaml runs it as ghcr.io/gitcanary/gitcanary).
#   docker build -t ghcr.io/gitcanary/gitcanary:0.1.0 .
# git and ssh are runtime dependencies: write-back runs the git CLI (through GitPython), over
# HTTPS or SSH. The process runs as the numeric user 10001, so `runAsNonRoot` can verify it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN pip install . && rm -rf /src

RUN groupadd --gid 10001 gitcanary \
    && useradd --uid 10001 --gid 10001 --home-dir /home/gitcanary --create-home \
       --shell /usr/sbin/nologin gitcanary \
    && mkdir -p /var/cache/gitcanary \
    && chown 10001:10001 /var/cache/gitcanary

USER 10001:10001
WORKDIR /home/gitcanary
ENV HOME=/home/gitcanary \
    GITCANARY_GIT_CACHE=/var/cache/gitcanary/git

EXPOSE 8080
ENTRYPOINT ["gitcanary"]
CMD ["run"]
