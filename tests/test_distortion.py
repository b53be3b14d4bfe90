"""Random affine distortions of the training images (jaxsnn.datasets.distortion) and their
place in the classifier: against closed forms (linear ramps, integer shifts, quarter turns)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.datasets.distortion import Distortion, affine_image, distort_image
from jaxsnn.event import models
from jaxsnn.event.tasks import digits as task

SHAPE = (8, 8)


def random_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, 64).astype(np.float32)


def test_the_identity_map_keeps_the_image_bit_for_bit():
    image = random_image()
    same = affine_image(jnp.asarray(image), SHAPE, 0.0, 1.0, jnp.zeros(2))
    np.testing.assert_array_equal(np.asarray(same), image)
    unchanged = distort_image(jnp.asarray(image), SHAPE, jax.random.PRNGKey(3), Distortion())
    np.testing.assert_array_equal(np.asarray(unchanged), image)


def test_an_integer_shift_moves_rows_and_columns_and_brings_in_blank_paper():
    image = random_image().reshape(SHAPE)
    moved = np.asarray(
        affine_image(jnp.asarray(image.ravel()), SHAPE, 0.0, 1.0, jnp.array([1.0, -2.0]))
    )
    expected = np.zeros(SHAPE, np.float32)
    expected[1:, :-2] = image[:-1, 2:]  # I'(q) = I(q - d): one row down, two columns left
    np.testing.assert_allclose(moved.reshape(SHAPE), expected, atol=1e-6)


def test_a_quarter_turn_is_numpys_rot90():
    image = random_image(1)
    turned = affine_image(jnp.asarray(image), SHAPE, jnp.pi / 2, 1.0, jnp.zeros(2))
    np.testing.assert_allclose(
        np.asarray(turned).reshape(SHAPE), np.rot90(image.reshape(SHAPE)), atol=1e-5
    )


@pytest.mark.parametrize(
    "theta_deg, scale, shift", [(30.0, 1.5, (0.2, -0.3)), (-12.0, 2.0, (0.0, 0.5))]
)
def test_a_linear_ramp_follows_the_inverse_map_exactly(theta_deg, scale, shift):
    """Bilinear interpolation reproduces a linear image, so inside the frame the distorted
    ramp is the ramp at ``R(-theta) (q - d) / s + c`` -- a closed form."""
    rows, cols = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij")
    a, b, e = 0.05, 0.03, 0.2
    ramp = (a * rows + b * cols + e).ravel()
    theta, d = np.deg2rad(theta_deg), np.asarray(shift)
    moved = affine_image(jnp.asarray(ramp), SHAPE, theta, scale, jnp.asarray(d))
    q = np.stack([rows.ravel() - 3.5, cols.ravel() - 3.5])
    inverse = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    p = inverse @ (q - d[:, None]) / scale + 3.5
    assert np.all((p >= 0) & (p <= 7))  # the chosen maps stay inside the frame
    np.testing.assert_allclose(np.asarray(moved), a * p[0] + b * p[1] + e, atol=1e-6)


def test_draws_stay_within_the_ranges_and_differ_per_key():
    image = jnp.asarray(random_image(2))
    shift_only = Distortion(max_shift=0.3)
    outs = [
        np.asarray(distort_image(image, SHAPE, jax.random.PRNGKey(k), shift_only))
        for k in range(20)
    ]
    assert all(0.0 <= o.min() and o.max() <= 1.0 for o in outs)
    assert len({o.tobytes() for o in outs}) == 20
    # a shift of at most 0.3 px moves no pixel by more than 0.3 of its step to a neighbour
    img = np.asarray(image).reshape(SHAPE)
    steps = np.max(np.abs(np.diff(img, axis=0))) + np.max(np.abs(np.diff(img, axis=1)))
    assert (
        max(np.abs(o.reshape(SHAPE)[1:-1, 1:-1] - img[1:-1, 1:-1]).max() for o in outs)
        <= 0.3 * steps + 1e-6
    )


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_shift", -0.1, "max_shift must be a finite number >= 0"),
        ("max_rotation", float("nan"), "max_rotation must be a finite number >= 0"),
        ("max_scale", 1.0, "max_scale must be below 1"),
    ],
)
def test_bad_ranges_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        Distortion(**{field: value}).checked()


def test_the_digits_model_distorts_training_images_only():
    config = dict(task.DEFAULTS, hidden=8, input_jitter=0.0, hidden_jitter=0.0)
    model = task.build_model(config)
    weights = model.init(jax.random.PRNGKey(0))
    features = jnp.asarray(np.stack([random_image(3), random_image(4)]))
    clean = model.record(weights, features)["input"]
    again = model.record(weights, features)["input"]
    noisy = model.record(weights, features, jax.random.PRNGKey(1))["input"]
    np.testing.assert_array_equal(np.asarray(clean[0]), np.asarray(again[0]))
    assert not np.array_equal(np.asarray(clean[0]), np.asarray(noisy[0]))  # training: moved
    undistorted = task.build_model(
        dict(config, distort_shift=0.0, distort_rotation=0.0, distort_scale=0.0)
    )
    assert not undistorted.training_noise and model.training_noise


def test_distortion_options_are_checked_before_training():
    with pytest.raises(ValueError, match="--distort-scale must be below 1"):
        task.build_model(dict(task.DEFAULTS, hidden=8, distort_scale=1.2))
    with pytest.raises(ValueError, match="--distort-shift must be a finite number >= 0"):
        task.build_model(dict(task.DEFAULTS, hidden=8, distort_shift=-1.0))
    with pytest.raises(ValueError, match="this data set's features are not an image"):
        models.feed_forward_classifier(dict(models.DEFAULTS, distort_rotation=5.0))
