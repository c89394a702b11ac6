"""vsa-np: Deep Visual-Semantic Alignments (Karpathy & Fei-Fei, CVPR 2015) in NumPy/CuPy."""
from setuptools import find_packages, setup

setup(
    name="vsa-np",
    version="0.1.0",
    description="Deep Visual-Semantic Alignments for Generating Image Descriptions, "
                "hand-written in NumPy/CuPy",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["vsa_np", "vsa_np.*", "gradcheck", "gradcheck.*"]),
    install_requires=["numpy>=1.23", "scipy>=1.9", "pillow>=9", "matplotlib>=3.5", "tqdm>=4.60",
                      "threadpoolctl>=3.1"],
    extras_require={
        "test": ["pytest>=7", "pycocoevalcap>=1.2", "jupytext>=1.14", "ruff>=0.5"],
        "gpu": ["cupy>=12"],
        "meteor": ["pycocoevalcap>=1.2"],     # the METEOR jar (it also needs Java)
    },
    entry_points={"console_scripts": ["vsa-np=vsa_np.cli:main"]},
)
