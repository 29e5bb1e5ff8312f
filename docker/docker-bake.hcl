// Image matrix: every variant x CUDA version. Run from the repository root:
//   docker buildx bake -f docker/docker-bake.hcl                 # group "default": all variants, CUDA 12.8
//   docker buildx bake -f docker/docker-bake.hcl all             # all 10 targets
//   docker buildx bake -f docker/docker-bake.hcl standard-cuda128 --print
// Variables can be set from the environment (REGISTRY=... VERSION=... docker buildx bake ...).
//
// Targets are spelled out (no matrix, no functions) so the file reads as the list of images it
// builds and tests can check it without a buildx binary. Tags per target:
//   <variant>-cuda<X.Y>            moving, the newest build from main
//   <variant>-cuda<X.Y>-<VERSION>  one build (VERSION: a release or the commit)
// and on the default CUDA (12.8) also <variant> and, for standard, latest.
// CUDA 13.0 needs an NVIDIA driver 580 or newer on the host; 12.8 is the default.
// serverless is the minimal image plus a RunPod Serverless worker: it is built with the minimal
// image's arguments and the target runtime-serverless, so it shares every layer below the worker.
// These are the release builds from the real sources (CUDA images, ComfyUI from git, the PyTorch
// index, the custom-node bundles); docker/build-local.sh builds offline with other arguments.

variable "REGISTRY" {
  default = "ghcr.io/comfyui-launchpad"
}

variable "IMAGE" {
  default = "comfyui-launchpad"
}

variable "VERSION" {
  default = "dev"
}

variable "GIT_SHA" {
  default = "unknown"
}

variable "BUILD_DATE" {
  default = "unknown"
}

variable "PYTHON_VERSION" {
  default = "3.12"
}

// torch, torchvision and torchaudio move together (a mismatched torchaudio fails at import);
// ComfyUI 0.33.0 supports torch 2.7 and newer.
variable "TORCH_VERSION" {
  default = "2.9.1"
}

variable "TORCHVISION_VERSION" {
  default = "0.24.1"
}

variable "TORCHAUDIO_VERSION" {
  default = "2.9.1"
}

// ComfyUI 0.33.0 (2026-08-20), the commit CI tests; the build fetches the commit and checks
// that its comfyui_version.py says 0.33.0.
variable "COMFYUI_VERSION" {
  default = "v0.33.0"
}

variable "COMFYUI_COMMIT" {
  default = "de6b062fb5ed1c9b471a3ebcd614705d93d67560"
}

group "default" {
  targets = ["minimal-cuda128", "standard-cuda128", "full-cuda128", "dev-cuda128", "serverless-cuda128"]
}

group "all" {
  targets = ["minimal-cuda128", "standard-cuda128", "full-cuda128", "dev-cuda128", "serverless-cuda128", "minimal-cuda130", "standard-cuda130", "full-cuda130", "dev-cuda130", "serverless-cuda130"]
}

group "cuda128" {
  targets = ["minimal-cuda128", "standard-cuda128", "full-cuda128", "dev-cuda128", "serverless-cuda128"]
}

group "cuda130" {
  targets = ["minimal-cuda130", "standard-cuda130", "full-cuda130", "dev-cuda130", "serverless-cuda130"]
}

target "_common" {
  context    = "."
  dockerfile = "docker/Dockerfile"
  platforms  = ["linux/amd64"]
  args = {
    PYTHON_VERSION      = "${PYTHON_VERSION}"
    TORCH_VERSION       = "${TORCH_VERSION}"
    TORCHVISION_VERSION = "${TORCHVISION_VERSION}"
    TORCHAUDIO_VERSION  = "${TORCHAUDIO_VERSION}"
    COMFYUI_VERSION     = "${COMFYUI_VERSION}"
    COMFYUI_COMMIT      = "${COMFYUI_COMMIT}"
    IMAGE_VERSION       = "${VERSION}"
    GIT_SHA             = "${GIT_SHA}"
    BUILD_DATE          = "${BUILD_DATE}"
  }
}

target "_cuda128" {
  args = {
    CUDA_VERSION = "12.8.1"
    TORCH_INDEX  = "cu128"
  }
}

target "_cuda130" {
  args = {
    CUDA_VERSION = "13.0.1"
    TORCH_INDEX  = "cu130"
  }
}

target "minimal-cuda128" {
  inherits = ["_common", "_cuda128"]
  args = {
    VARIANT = "minimal"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:minimal-cuda12.8",
    "${REGISTRY}/${IMAGE}:minimal-cuda12.8-${VERSION}",
    "${REGISTRY}/${IMAGE}:minimal",
  ]
}

target "standard-cuda128" {
  inherits = ["_common", "_cuda128"]
  args = {
    VARIANT = "standard"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:standard-cuda12.8",
    "${REGISTRY}/${IMAGE}:standard-cuda12.8-${VERSION}",
    "${REGISTRY}/${IMAGE}:standard",
    "${REGISTRY}/${IMAGE}:latest",
  ]
}

target "full-cuda128" {
  inherits = ["_common", "_cuda128"]
  args = {
    VARIANT = "full"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:full-cuda12.8",
    "${REGISTRY}/${IMAGE}:full-cuda12.8-${VERSION}",
    "${REGISTRY}/${IMAGE}:full",
  ]
}

target "dev-cuda128" {
  inherits = ["_common", "_cuda128"]
  args = {
    VARIANT = "dev"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:dev-cuda12.8",
    "${REGISTRY}/${IMAGE}:dev-cuda12.8-${VERSION}",
    "${REGISTRY}/${IMAGE}:dev",
  ]
}

target "minimal-cuda130" {
  inherits = ["_common", "_cuda130"]
  args = {
    VARIANT = "minimal"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:minimal-cuda13.0",
    "${REGISTRY}/${IMAGE}:minimal-cuda13.0-${VERSION}",
  ]
}

target "standard-cuda130" {
  inherits = ["_common", "_cuda130"]
  args = {
    VARIANT = "standard"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:standard-cuda13.0",
    "${REGISTRY}/${IMAGE}:standard-cuda13.0-${VERSION}",
  ]
}

target "full-cuda130" {
  inherits = ["_common", "_cuda130"]
  args = {
    VARIANT = "full"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:full-cuda13.0",
    "${REGISTRY}/${IMAGE}:full-cuda13.0-${VERSION}",
  ]
}

target "dev-cuda130" {
  inherits = ["_common", "_cuda130"]
  args = {
    VARIANT = "dev"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:dev-cuda13.0",
    "${REGISTRY}/${IMAGE}:dev-cuda13.0-${VERSION}",
  ]
}

target "serverless-cuda128" {
  inherits = ["_common", "_cuda128"]
  target   = "runtime-serverless"
  args = {
    VARIANT = "minimal"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:serverless-cuda12.8",
    "${REGISTRY}/${IMAGE}:serverless-cuda12.8-${VERSION}",
    "${REGISTRY}/${IMAGE}:serverless",
  ]
}

target "serverless-cuda130" {
  inherits = ["_common", "_cuda130"]
  target   = "runtime-serverless"
  args = {
    VARIANT = "minimal"
  }
  tags = [
    "${REGISTRY}/${IMAGE}:serverless-cuda13.0",
    "${REGISTRY}/${IMAGE}:serverless-cuda13.0-${VERSION}",
  ]
}
