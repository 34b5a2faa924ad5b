# syntax=docker/dockerfile:1
# The meshops image: the default image of the GitLab CI/CD components in templates/.
# meshops (Node.js 20), kubectl (Kustomize overlays, `meshops ... --kubeconfig`), helm (Helm
# renderer) and git (`--rev`, the MR diff). Build: docker build -t registry.gitlab.com/meshops/meshops:0.1.0 .
#
# Pinned versions, each checked at build time and by test/gitlab-component.test.ts:
#   HELM_VERSION     = HELM_VERSION in scripts/setup-tools.sh (that very script builds helm here)
#   KUBECTL_VERSION  = k8s.io/kubernetes in tools/testenv/go.mod = KUBE_VERSION in scripts/testenv.sh
#                      (the API server the tests run against)
ARG NODE_IMAGE=node:20-bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm

# --- helm and kubectl, built from source through the Go module proxy ---------------------------
FROM ${GO_IMAGE} AS tools
ARG HELM_VERSION=v3.22.0
ARG KUBECTL_VERSION=v1.34.4
ENV CGO_ENABLED=0 GOWORK=off
WORKDIR /src
# helm exactly as the tests get it: scripts/setup-tools.sh does `go install helm.sh/helm/v3/cmd/helm`
# at its pinned version, with the version and default Kubernetes version stamped in.
COPY scripts/setup-tools.sh scripts/setup-tools.sh
COPY scripts/lib/go-tools.sh scripts/lib/go-tools.sh
RUN MESHOPS_TOOLS_DIR=/opt/tools bash scripts/setup-tools.sh >/dev/null \
 && test "$(/opt/tools/bin/helm version --short)" = "${HELM_VERSION}" \
 || { echo "helm is not ${HELM_VERSION}: update HELM_VERSION here and in scripts/setup-tools.sh together" >&2; exit 1; }
# kubectl cannot be `go install`ed: k8s.io/kubernetes replaces its staging modules with local
# paths. tools/testenv/go.mod already pins k8s.io/kubernetes and maps every staging module to its
# published tag, so kubectl is built inside that module. kubectl's own dependencies are not in
# that go.sum (it only lists kube-apiserver's), so -mod=mod adds them, each one checked against
# the Go checksum database (sum.golang.org). (The alternative, downloading the release binary
# from dl.k8s.io, needs a SHA-256 per architecture pinned here.)
COPY tools/testenv/go.mod tools/testenv/go.sum kubectl/
RUN cd kubectl \
 && grep -Eq "^(require)?[[:space:]]*k8s.io/kubernetes ${KUBECTL_VERSION}\$" go.mod \
 || { echo "tools/testenv/go.mod does not pin k8s.io/kubernetes ${KUBECTL_VERSION}" >&2; exit 1; }
RUN cd kubectl \
 && minor="$(echo "${KUBECTL_VERSION}" | cut -d. -f2)" \
 && stamp="" \
 && for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do \
      stamp="$stamp -X $pkg.gitVersion=${KUBECTL_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"; \
    done \
 && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $stamp" -o /opt/tools/bin/kubectl k8s.io/kubernetes/cmd/kubectl \
 && /opt/tools/bin/kubectl version --client | grep -q "Client Version: ${KUBECTL_VERSION}\$"

# --- meshops: compile, then keep only the runtime dependencies ---------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY schemas schemas
COPY src src
COPY scripts/bundle.mjs scripts/bundle.mjs
# `npm ci` runs the prepare script (tsc, then esbuild bundles dist/bundle/), then the dev dependencies go.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf src tsconfig.json tsconfig.build.json

# --- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG HELM_VERSION=v3.22.0
ARG KUBECTL_VERSION=v1.34.4
LABEL org.opencontainers.image.title="meshops" \
      org.opencontainers.image.description="GitOps for service-mesh configuration: meshops, kubectl ${KUBECTL_VERSION}, helm ${HELM_VERSION}, git" \
      org.opencontainers.image.licenses="Apache-2.0" \
      dev.meshops.helm.version="${HELM_VERSION}" \
      dev.meshops.kubectl.version="${KUBECTL_VERSION}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=tools /opt/tools/bin/helm /opt/tools/bin/kubectl /usr/local/bin/
COPY --from=build /src /opt/meshops
RUN ln -s /opt/meshops/bin/meshops.js /usr/local/bin/meshops \
 && meshops --version && helm version --short && kubectl version --client
# Not root. GitLab's Docker and Kubernetes executors run the job script as this user in the
# checked-out project directory, which the runner makes writable for it.
RUN useradd --create-home --uid 10001 --user-group meshops
USER 10001:10001
ENV HOME=/home/meshops NODE_ENV=production
WORKDIR /home/meshops
# GitLab runs the job script with a shell from the image; the node image's entrypoint
# (docker-entrypoint.sh, which prefixes `node` to arguments that are not commands) is cleared
# so that nothing stands between the runner and the shell. Outside GitLab:
#   docker run --rm -v "$PWD:/work" -w /work registry.gitlab.com/meshops/meshops:0.1.0 meshops check
ENTRYPOINT []
CMD ["meshops", "--help"]
