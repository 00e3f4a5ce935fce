# One image for every component: `operator`, `api` or `node` as the first argument.
#   docker build -t web4ai/orchestrator:0.1.0 .
#   docker run --rm web4ai/orchestrator:0.1.0 api --help
# BASE is any Debian-like image with python3 (3.11) and its venv module; hack/build-image.sh
# builds this same file with buildah on a debootstrap'd Debian base (no registry needed).

ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/venv
# the dependencies' layer changes only with pyproject.toml and constraints.txt
COPY pyproject.toml constraints.txt ./
COPY hack/requirements.py hack/requirements.py
RUN /opt/venv/bin/python hack/requirements.py > requirements.txt \
    && /opt/venv/bin/pip install --requirement requirements.txt --constraint constraints.txt
COPY README.md ./
COPY web4ai ./web4ai
RUN /opt/venv/bin/pip install --no-deps .

FROM ${BASE}
LABEL org.opencontainers.image.title="web4ai-orchestrator" \
      org.opencontainers.image.description="Kubernetes-native control plane for AI worker nodes"
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 web4ai \
    && useradd --system --uid 10001 --gid web4ai --no-create-home --shell /usr/sbin/nologin web4ai
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 9000 9001 9100 8081
ENTRYPOINT ["web4ai"]
CMD ["--help"]
