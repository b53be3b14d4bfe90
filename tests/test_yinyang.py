"""The Yin-Yang generator against its published definition."""

import math

import numpy as np
import pytest

from jaxsnn.datasets import SPLITS, batch_indices, yinyang_class, yinyang_dataset, yinyang_split


def reference_first_samples(seed, n, r_small=0.1, r_big=0.5):
    """The published algorithm, written out independently of the library's loop."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        target = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2 * r_big
            if math.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            d_right = math.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
            d_left = math.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
            criterion1 = d_right <= r_small
            criterion2 = r_small < d_left <= 0.5 * r_big
            criterion3 = y > r_big and d_right > 0.5 * r_big
            is_yin = criterion1 or criterion2 or criterion3
            is_circles = d_right < r_small or d_left < r_small
            cls = 2 if is_circles else int(is_yin)
            if cls == target:
                break
        out.append((x, y, 1 - x, 1 - y, target))
    return np.array(out)


@pytest.fixture(scope="module")
def train():
    return yinyang_split("train")


def test_split_sizes_and_dtypes(train):
    assert train.features.shape == (5000, 4)
    assert train.features.dtype == np.float32
    assert train.labels.shape == (5000,)
    assert len(yinyang_split("validation")) == 1000
    assert len(yinyang_split("test")) == 1000
    assert SPLITS["test"] == {"size": 1000, "seed": 40}


def test_class_rule_holds_for_every_point(train):
    x, y = train.features[:, 0].astype(float), train.features[:, 1].astype(float)
    expected = [yinyang_class(a, b) for a, b in zip(x, y, strict=True)]
    np.testing.assert_array_equal(expected, train.labels)


def test_points_lie_in_big_circle_and_mirror_features(train):
    x, y = train.features[:, 0], train.features[:, 1]
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5 + 1e-6)
    np.testing.assert_allclose(train.features[:, 2], 1 - x, atol=1e-6)
    np.testing.assert_allclose(train.features[:, 3], 1 - y, atol=1e-6)


def test_classes_near_a_third_each(train):
    fractions = np.bincount(train.labels, minlength=3) / len(train)
    # target classes are drawn per sample: binomial std for n=5000 is ~0.0067
    np.testing.assert_allclose(fractions, 1 / 3, atol=0.03)


def test_same_seed_same_array_other_seed_differs():
    a = yinyang_dataset(size=50, seed=3)
    b = yinyang_dataset(size=50, seed=3)
    c = yinyang_dataset(size=50, seed=4)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.features, c.features)


def test_first_samples_of_seed_42_follow_the_algorithm(train):
    ref = reference_first_samples(42, 20)
    np.testing.assert_allclose(train.features[:20], ref[:, :4].astype(np.float32), rtol=0, atol=0)
    np.testing.assert_array_equal(train.labels[:20], ref[:, 4].astype(int))


def test_class_rule_known_points():
    assert yinyang_class(0.75, 0.5) == 2  # centre of the right dot
    assert yinyang_class(0.25, 0.5) == 2  # centre of the left dot
    assert yinyang_class(0.5, 0.95) == 1  # top: yin
    assert yinyang_class(0.5, 0.05) == 0  # bottom: yang


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"size": 0}, "size"), ({"size": -3}, "size"), ({"r_small": 0.4}, "r_small")],
)
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        yinyang_dataset(**kwargs)


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        yinyang_split("holdout")


def test_batches_deterministic_and_cover_each_sample_once():
    import jax

    key = jax.random.PRNGKey(7)
    a = np.asarray(batch_indices(key, 100, 20))
    b = np.asarray(batch_indices(key, 100, 20))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 20)
    np.testing.assert_array_equal(np.sort(a.ravel()), np.arange(100))
    other = np.asarray(batch_indices(jax.random.PRNGKey(8), 100, 20))
    assert not np.array_equal(a, other)
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(key, 10, 11)
