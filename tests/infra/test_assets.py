"""What ships: the layer built for Python 3.12 on arm64 without Docker, the code, the media context."""

from __future__ import annotations

from infra import assets


def test_the_layer_holds_the_shared_package_and_arm64_cp312_wheels_but_not_boto() -> None:
    layer = assets.layer_asset() / "python"
    assert (layer / "telehealth" / "__init__.py").is_file()
    assert (layer / "aws_lambda_powertools").is_dir()
    cores = list((layer / "pydantic_core").glob("_pydantic_core.*.so"))
    assert [c.name for c in cores] == ["_pydantic_core.cpython-312-aarch64-linux-gnu.so"]
    # The Lambda runtime brings boto3 and botocore; shipping them would double the layer.
    assert not (layer / "botocore").exists() and not (layer / "boto3").exists()
    assert not list(layer.rglob("__pycache__"))


def test_the_layer_dependencies_are_cached_by_the_lock_files_hash() -> None:
    first = assets.layer_dependencies()
    assert first.name == assets._digest(assets.LAYER_LOCK)
    assert (first / ".complete").exists()
    assert assets.layer_dependencies() == first


def test_the_function_asset_is_the_functions_package_alone() -> None:
    code = assets.functions_asset()
    assert sorted(p.name for p in code.iterdir()) == ["functions"]
    assert (code / "functions" / "api" / "handler.py").is_file()


def test_the_media_context_has_the_dockerfile_workers_shared_package_and_pinned_opencv() -> None:
    context = assets.media_build_context()
    assert (context / "Dockerfile").read_text() == (assets.MEDIA_WORKERS / "Dockerfile").read_text()
    assert (context / "media_workers" / "rppg" / "__main__.py").is_file()
    assert (context / "telehealth" / "__init__.py").is_file()
    requirements = (context / "requirements.txt").read_text()
    opencv = next(line for line in requirements.splitlines() if line.startswith("opencv-python-headless=="))
    assert int(opencv.split("==")[1].split(".")[0]) < 5
