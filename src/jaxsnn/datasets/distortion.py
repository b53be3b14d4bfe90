"""Random affine distortions of small grey-scale images, a training regulariser.

Every training sample gets its own small rotation, scaling and shift, drawn uniformly::

    theta ~ U(-max_rotation, max_rotation)    (degrees)
    s     ~ U(1 - max_scale, 1 + max_scale)
    d     ~ U(-max_shift, max_shift)^2         (pixels, row and column)

and the distorted image ``I'`` takes at each pixel ``q`` (coordinates relative to the image
centre) the original image at the point that the map ``p -> s R(theta) p + d`` sends there::

    I'(q) = I(R(-theta) (q - d) / s)

read by bilinear interpolation, with blank paper (0) outside the image. Evaluations never see
distorted images.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.ndimage import map_coordinates


class Distortion(NamedTuple):
    """The ranges of the random affine map (module docstring); all zero: no distortion."""

    #: largest shift along each axis, in pixels
    max_shift: float = 0.0
    #: largest rotation, in degrees
    max_rotation: float = 0.0
    #: largest relative change of size (``0.05``: 95 % to 105 %)
    max_scale: float = 0.0

    @property
    def active(self) -> bool:
        """Whether any range is non-zero."""
        return bool(self.max_shift or self.max_rotation or self.max_scale)

    def checked(self, names: tuple[str, str, str] = ("max_shift", "max_rotation", "max_scale")):
        """``self``, after a ``ValueError`` naming the offending field (by ``names``) unless
        every range is finite and ``>= 0`` and ``max_scale < 1``."""
        for name, value in zip(names, self, strict=True):
            if not (0.0 <= value < float("inf")):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.max_scale >= 1.0:
            raise ValueError(
                f"{names[2]} must be below 1 (the image would shrink to nothing), "
                f"got {self.max_scale!r}"
            )
        return self


def source_coordinates(shape: tuple[int, int], theta: Array, scale: Array, shift: Array) -> Array:
    """Where each output pixel reads the original image, ``[2, rows * cols]`` (row, column).

    ``p = R(-theta) (q - d) / s + c`` for every pixel ``q`` (row by row) relative to the image
    centre ``c = ((rows - 1) / 2, (cols - 1) / 2)``; ``theta`` in radians.
    """
    rows, cols = shape
    centre = jnp.array([(rows - 1) / 2.0, (cols - 1) / 2.0])
    grid = jnp.stack(jnp.meshgrid(jnp.arange(rows), jnp.arange(cols), indexing="ij"))
    q = grid.reshape(2, -1) - centre[:, None]
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    inverse_rotation = jnp.array([[cos, sin], [-sin, cos]])
    return inverse_rotation @ (q - shift[:, None]) / scale + centre[:, None]


def affine_image(
    features: Array, shape: tuple[int, int], theta: Array, scale: Array, shift: Array
) -> Array:
    """The image ``features`` (pixels row by row, ``[rows * cols]``, values in ``[0, 1]``)
    moved by ``p -> scale R(theta) p + shift`` about its centre: ``I'(q) = I(R(-theta) (q -
    shift) / scale)``, bilinear, 0 outside (:func:`source_coordinates`); same shape and
    dtype, clipped to ``[0, 1]`` against rounding."""
    source = source_coordinates(shape, theta, scale, shift)
    image = jnp.reshape(features, shape)
    moved = map_coordinates(image, [source[0], source[1]], order=1, mode="constant", cval=0.0)
    return jnp.clip(moved, 0.0, 1.0).astype(features.dtype)


def distort_image(
    features: Array, shape: tuple[int, int], key: Array, distortion: Distortion
) -> Array:
    """:func:`affine_image` with the rotation, scale and shift drawn uniformly from ``key``
    within the ranges of ``distortion`` (module docstring)."""
    key_rotation, key_scale, key_shift = jax.random.split(key, 3)
    rotation = distortion.max_rotation
    theta = jnp.deg2rad(jax.random.uniform(key_rotation, (), minval=-rotation, maxval=rotation))
    scale = jax.random.uniform(
        key_scale, (), minval=1.0 - distortion.max_scale, maxval=1.0 + distortion.max_scale
    )
    shift = jax.random.uniform(
        key_shift, (2,), minval=-distortion.max_shift, maxval=distortion.max_shift
    )
    return affine_image(features, shape, theta, scale, shift)
