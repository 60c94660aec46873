"""The ANP base model, its loss and the SoftC residual."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.data import gpme
from sciml.probconserv import (
    ANP,
    anp_elbo_loss,
    gaussian_kl,
    mixture_moments,
    nll_floor,
    pde_residual,
    predict_samples,
)


@pytest.fixture(scope="module")
def small():
    model = eqx.filter_jit(lambda k: ANP(hidden=16, num_heads=4, input_range=((0.0, 0.1), (0.0, 1.0)), key=k))(
        jax.random.PRNGKey(0)
    )
    b = gpme.sample_function("stefan", 0.6, np.random.default_rng(0), n_context=(4, 5), n_target=(3, 4))
    xc, yc = jnp.asarray(b["xc"], jnp.float32), jnp.asarray(b["yc"][:, None], jnp.float32)
    xt, yt = jnp.asarray(b["xt"], jnp.float32), jnp.asarray(b["yt"][:, None], jnp.float32)
    return model, xc, yc, xt, yt


def test_parameter_count_matches_the_original():
    model = eqx.filter_eval_shape(lambda k: ANP(hidden=128, num_heads=4, key=k), jax.random.PRNGKey(0))
    n = sum(x.size for x in jax.tree_util.tree_leaves(model) if isinstance(x, jax.ShapeDtypeStruct))
    assert n == 989_826  # the original's ANP (docs/references.md, "Benchmarks")


def test_context_permutation_invariance_and_query_independence(small):
    model, xc, yc, xt, _ = small
    key = jax.random.PRNGKey(1)
    call = eqx.filter_jit(lambda m, a, b, c, k: m(a, b, c, key=k))
    m, s = call(model, xc, yc, xt, key)
    perm = jax.random.permutation(jax.random.PRNGKey(2), xc.shape[0])
    m2, s2 = call(model, xc[perm], yc[perm], xt, key)
    np.testing.assert_allclose(m, m2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, s2, rtol=1e-5, atol=1e-5)
    # each query's prediction is independent of the other queries
    m3, _ = call(model, xc, yc, xt[:3], key)
    np.testing.assert_allclose(m[:3], m3, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(s) >= 1e-3)


def test_predict_samples_shares_encoders_and_matches_single_calls(small):
    model, xc, yc, xt, _ = small
    means, stds = eqx.filter_jit(predict_samples)(model, xc, yc, xt, key=jax.random.PRNGKey(3), num_samples=4)
    assert means.shape == (4, xt.shape[0]) and stds.shape == (4, xt.shape[0])
    mu, logvar = model.latent_distribution(xc, yc)
    z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(jax.random.PRNGKey(3), (4, mu.shape[0]))[1]
    m1, s1 = eqx.filter_jit(lambda m, z: m.decode(m.encode(xc, yc), z, xt))(model, z)
    np.testing.assert_allclose(means[1], m1[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stds[1], s1[:, 0], rtol=1e-5, atol=1e-6)


def test_mixture_moments_equal_numpy():
    rng = np.random.default_rng(0)
    means, var = rng.normal(size=(7, 5)), rng.uniform(0.1, 1, (7, 5))
    m, v = mixture_moments(jnp.asarray(means), jnp.asarray(var))
    np.testing.assert_allclose(m, means.mean(0), rtol=1e-6)
    np.testing.assert_allclose(v, var.mean(0) + means.var(0, ddof=1), rtol=1e-5)


def test_gaussian_kl_matches_monte_carlo():
    mq, lq, mp, lp = jnp.array([0.3, -1.0]), jnp.array([-0.5, 0.2]), jnp.array([0.0, 0.5]), jnp.array([0.1, -0.3])
    z = mq + jnp.exp(0.5 * lq) * jax.random.normal(jax.random.PRNGKey(0), (400_000, 2))

    def logpdf(z, m, lv):
        return jnp.sum(-0.5 * (z - m) ** 2 / jnp.exp(lv) - 0.5 * lv - 0.5 * jnp.log(2 * jnp.pi), -1)

    mc = jnp.mean(logpdf(z, mq, lq) - logpdf(z, mp, lp))
    assert float(gaussian_kl(mq, lq, mp, lp)) == pytest.approx(float(mc), abs=5e-3)
    assert float(gaussian_kl(mq, lq, mq, lq)) == pytest.approx(0.0, abs=1e-7)


def test_elbo_loss_is_finite_and_differentiable(small):
    model, xc, yc, xt, yt = small
    def f(m):
        loss, aux, _ = anp_elbo_loss(m, xc, yc, xt, yt, key=jax.random.PRNGKey(0))
        return loss, aux

    (loss, aux), grads = eqx.filter_jit(eqx.filter_value_and_grad(f, has_aux=True))(model)
    assert np.isfinite(float(loss)) and float(aux["kl"]) >= 0
    assert float(loss) == pytest.approx(float(aux["nll"] + aux["kl"]), rel=1e-6)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)


def test_nll_floor_is_the_decoders_best_nll(small):
    # Notebook 06 reads the trained models' validation NLL against this floor: it must be what the decoder
    # gives with exact means and every std at MIN_STD, and lie below what any other model gives.
    model, xc, yc, xt, yt = small
    key = jax.random.PRNGKey(3)
    _, aux, _ = anp_elbo_loss(model, xc, yc, xt, yt, key=key)
    assert float(aux["nll"]) > nll_floor(xt.shape[0])
    # A head that outputs the mean 0.25 and a std at its floor everywhere, on targets all equal to 0.25.
    exact = eqx.tree_at(lambda m: (m.decoder.head.weight, m.decoder.head.bias), model,
                        (jnp.zeros_like(model.decoder.head.weight), jnp.array([0.25, -1e4])))
    _, aux, _ = anp_elbo_loss(exact, xc, yc, xt, jnp.full_like(yt, 0.25), key=key)
    np.testing.assert_allclose(float(aux["nll"]), nll_floor(xt.shape[0]), rtol=1e-5)
    assert nll_floor(100) == pytest.approx(-598.88, abs=0.01)  # the heat runs' 10 x 10 targets
    with pytest.raises(ValueError, match="num_targets"):
        nll_floor(0)


@pytest.mark.parametrize("equation,param", [("heat", 2.0), ("pme", 2.5), ("stefan", 0.6)])
def test_softc_residual_matches_finite_differences_of_the_model(equation, param):
    """Autodiff residual u_t - (k(u) u_x)_x of the ANP mean against central differences (float64)."""
    case = gpme.get_case(equation)
    with jax.enable_x64(True):
        model = ANP(hidden=8, num_heads=2, input_range=(case.t_range, case.x_range), key=jax.random.PRNGKey(4))
        model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
        rng = np.random.default_rng(1)
        b = gpme.sample_function(equation, param, rng, n_context=(3, 3), n_target=(1, 1))
        xc, yc = jnp.asarray(b["xc"]), jnp.asarray(b["yc"][:, None])
        kv = eqx.filter_jit(model.encode)(xc, yc)
        z = jnp.linspace(-1, 1, 8)
        decode = eqx.filter_jit(lambda m, p: m.decode(kv, z, p)[0][0, 0])
        t0, t1 = case.t_range
        x0, x1 = case.x_range
        q = jnp.array([t0 + 0.6 * (t1 - t0), x0 + 0.3 * (x1 - x0)])
        # the Stefan step k = 1[u >= u*] is flat a.e.; pick u* so that the point sits in the k = 1 phase
        u_here = float(decode(model, q[None]))
        p = jnp.asarray(u_here - 1.0 if equation == "stefan" else param)
        res = float(eqx.filter_jit(pde_residual)(model, kv, z, equation, p, q))

        def u(t, x):
            return float(decode(model, jnp.array([[t, x]])))

        ht, hx = 1e-5 * (t1 - t0), 1e-4 * (x1 - x0)
        t, x = float(q[0]), float(q[1])
        u_t = (u(t + ht, x) - u(t - ht, x)) / (2 * ht)

        def flux(xx):
            ux = (u(t, xx + hx / 2) - u(t, xx - hx / 2)) / hx
            return float(gpme.conductivity(equation, u(t, xx), float(p))) * ux

        fd = u_t - (flux(x + hx / 2) - flux(x - hx / 2)) / hx
    assert res == pytest.approx(fd, rel=1e-4, abs=1e-5 * max(1.0, abs(u_t)))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="divisible"):
        ANP(hidden=10, num_heads=4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="input_range"):
        ANP(hidden=8, num_heads=2, input_range=((0.0, 1.0),), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="dropout must be in"):
        ANP(hidden=8, num_heads=2, dropout=1.0, key=jax.random.PRNGKey(0))


def test_weight_dropout_commutes_with_the_late_softmax_normalisation():
    """The ANP's attention normalises after the matmul; dropping out the weights there must equal
    drop(softmax(logits)) @ v, the original's order (dropout after the softmax, before the values)."""
    from sciml.probconserv.anp import _softmax_matmul

    logits = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7))
    v = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 3))
    mask = jax.random.bernoulli(jax.random.PRNGKey(2), 0.7, logits.shape)
    drop = lambda w: jnp.where(mask, w / 0.7, 0.0)  # noqa: E731
    np.testing.assert_allclose(_softmax_matmul(logits, v, drop), drop(jax.nn.softmax(logits)) @ v, rtol=1e-5,
                               atol=1e-6)


def test_anp_dropout_only_in_training_and_zero_rate_keeps_the_old_loss(small):
    """With dropout on, the training loss is noisy (another key, another value) while every pass without a
    dropout key (evaluation, prediction) is the model without dropout; at rate 0 the loss draws z from
    the key as before dropout existed, so trainings without dropout (every recorded run) are unchanged."""
    base, xc, yc, xt, yt = small
    dropped = ANP(hidden=16, num_heads=4, input_range=((0.0, 0.1), (0.0, 1.0)), dropout=0.3, key=jax.random.PRNGKey(0))
    dropped = eqx.tree_at(lambda m: (m.latent, m.deterministic, m.decoder), dropped,
                          (base.latent, base.deterministic, base.decoder))
    for a, b in zip(jax.tree_util.tree_leaves(base.encode(xc, yc)), jax.tree_util.tree_leaves(dropped.encode(xc, yc))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(base.latent_distribution(xc, yc)[0], dropped.latent_distribution(xc, yc)[0])
    key = jax.random.PRNGKey(5)
    assert not np.allclose(dropped.encode(xc, yc, dropout_key=key)[1], dropped.encode(xc, yc)[1])
    # The loss drops out: at two nonzero rates the keys split alike (same z), so only the dropout differs.
    half = ANP(hidden=16, num_heads=4, input_range=((0.0, 0.1), (0.0, 1.0)), dropout=0.5, key=jax.random.PRNGKey(0))
    half = eqx.tree_at(lambda m: (m.latent, m.deterministic, m.decoder), half,
                       (base.latent, base.deterministic, base.decoder))
    assert anp_elbo_loss(dropped, xc, yc, xt, yt, key=key)[0] != anp_elbo_loss(half, xc, yc, xt, yt, key=key)[0]
    # Rate 0: z = mu_t + sigma_t * normal(key), the loss's own formula before dropout.
    mu_t, lv_t = base.latent_distribution(xt, yt)
    z = mu_t + jnp.exp(0.5 * lv_t) * jax.random.normal(key, mu_t.shape)
    mean, std = base.decode(base.encode(xc, yc), z, xt)
    mu_c, lv_c = base.latent_distribution(xc, yc)
    expected = -jnp.sum(-0.5 * ((yt - mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi))
    expected += gaussian_kl(mu_t, lv_t, mu_c, lv_c)
    np.testing.assert_allclose(anp_elbo_loss(base, xc, yc, xt, yt, key=key)[0], expected, rtol=1e-5)
