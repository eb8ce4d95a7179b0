# The gitcanary controller image (flux/deployment.yaml and the Helm chart run it).
#
# Built without a Docker daemon by `python -m gitcanary_sandbox.image` (buildah bud, vfs storage, chroot
# isolation). The build context it prepares holds:
#   base.tar  a minimal Debian bookworm root filesystem made by debootstrap from the signed Debian
#             archive, with python3, git, openssh-client, gnupg and ca-certificates; its sha256 is
#             the base pin (BASE_SHA256, recorded as a label);
#   wheels/   the gitcanary wheel and its dependencies (pip wheel).
# git and ssh are runtime dependencies (write-back runs the git CLI over HTTPS or SSH); gnupg signs
# commits. Git timeouts kill git's whole process group from Python, so procps is not needed.
# The process runs as the numeric user 10001, so `runAsNonRoot` can verify it.
FROM scratch
ADD base.tar /

ARG BASE_SHA256
ARG SOURCE_SHA256
ARG VERSION
LABEL org.opencontainers.image.title="gitcanary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/gitcanary/gitcanary" \
      io.gitcanary.base.sha256="${BASE_SHA256}" \
      io.gitcanary.source.sha256="${SOURCE_SHA256}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANG=C.UTF-8

COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/gitcanary \
    && /opt/gitcanary/bin/pip install --no-index --find-links /tmp/wheels gitcanary \
    && rm -rf /tmp/wheels

RUN groupadd --gid 10001 gitcanary \
    && useradd --uid 10001 --gid 10001 --home-dir /home/gitcanary --create-home \
       --shell /usr/sbin/nologin gitcanary \
    && mkdir -p /var/cache/gitcanary \
    && chown 10001:10001 /var/cache/gitcanary

USER 10001:10001
WORKDIR /home/gitcanary
ENV HOME=/home/gitcanary \
    PATH=/opt/gitcanary/bin:/usr/local/bin:/usr/bin:/bin \
    GITCANARY_GIT_CACHE=/var/cache/gitcanary/git

EXPOSE 8080 8081
ENTRYPOINT ["/opt/gitcanary/bin/gitcanary"]
CMD ["run"]
