// GroupNorm (Wu & He 2018), optionally followed by SiLU, on channels-last (NHWC) CPU tensors, fp32 or bf16.
//
// Notation: x (n, p, c) with p = h * w pixels and c channels innermost; G groups of cg = c / G channels;
// m = p * cg values per (sample, group). Per (i, g): mean mu, rstd r = 1 / sqrt(var + eps). Per channel:
// a = r * gamma, so z = a (x - mu) + beta and y = act(z), act = identity or SiLU(z) = z sigmoid(z). x - mu is
// taken as (x - k) - (mu - k), k the channel's first value in the sample and mu in float64, so that it does not
// cancel when |mu| >> std (a x + (beta - a mu), torch's form, does).
// Backward, with dz = dy act'(z) and xhat = (x - mu) r:
//   dgamma_c = sum_p dz xhat,  dbeta_c = sum_p dz,
//   dx = r (gamma dz - mean_g(gamma dz) - xhat mean_g(gamma dz xhat)).
// The forward reads x twice and writes y once; the backward reads x twice and dy once and writes dx once,
// recomputing z instead of storing it (dz of one sample waits in a buffer between its two passes). Samples run
// in parallel (OpenMP). Accumulation is fp32; the channel sums are shifted by each channel's first value, so
// the variance does not cancel when |mu| >> std.
// Built by genlab/nn/native.py with the host C++ compiler and called through ctypes (a C interface), with fast
// math for vectorized exp: a NaN or infinity in a group still makes that group's outputs non-finite (tested).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) {
  uint32_t u = static_cast<uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline void store(float* p, int64_t i, float v) { p[i] = v; }
inline void store(uint16_t* p, int64_t i, float v) {  // round to nearest even (inputs are finite)
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  p[i] = static_cast<uint16_t>(u >> 16);
}

inline float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// Per-channel shifted sums of one sample -> per-group mean and rstd.
template <typename T>
void stats(const T* x, int64_t p, int64_t c, int64_t G, float eps, double* mean, float* rstd,
           std::vector<float>& k, std::vector<float>& s1, std::vector<float>& s2) {
  for (int64_t j = 0; j < c; ++j) { k[j] = load(x, j); s1[j] = 0.f; s2[j] = 0.f; }
  for (int64_t q = 0; q < p; ++q) {
    const T* row = x + q * c;
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) {
      float d = load(row, j) - k[j];
      s1[j] += d;
      s2[j] += d * d;
    }
  }
  const int64_t cg = c / G;
  const double m = static_cast<double>(p) * cg;
  for (int64_t g = 0; g < G; ++g) {
    double mu = 0.0;
    for (int64_t j = g * cg; j < (g + 1) * cg; ++j)
      mu += static_cast<double>(k[j]) + static_cast<double>(s1[j]) / p;  // in double: k alone has float's ulp
    mu /= cg;
    double ss = 0.0;  // sum of squared deviations from mu: per channel about its own mean, plus the offsets
    for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
      double mj = k[j] + static_cast<double>(s1[j]) / p;
      ss += s2[j] - static_cast<double>(s1[j]) * s1[j] / p + p * (mj - mu) * (mj - mu);
    }
    double var = ss / m;
    mean[g] = mu;
    rstd[g] = static_cast<float>(1.0 / std::sqrt((var > 0.0 ? var : 0.0) + eps));
  }
}

template <typename T>
void forward(const T* x, const float* gamma, const float* beta, T* y, double* mean, float* rstd, int64_t n,
             int64_t p, int64_t c, int64_t G, float eps, int act, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> k(c), s1(c), s2(c), a(c), mu(c);
    const T* xi = x + i * p * c;
    T* yi = y + i * p * c;
    stats(xi, p, c, G, eps, mean + i * G, rstd + i * G, k, s1, s2);
    const int64_t cg = c / G;
    for (int64_t j = 0; j < c; ++j) {
      a[j] = rstd[i * G + j / cg] * gamma[j];
      mu[j] = static_cast<float>(mean[i * G + j / cg] - k[j]);  // mu - k
    }
    for (int64_t q = 0; q < p; ++q) {
      const T* row = xi + q * c;
      T* out = yi + q * c;
      if (act) {
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) {
          float z = a[j] * ((load(row, j) - k[j]) - mu[j]) + beta[j];
          store(out, j, z * sigmoid(z));
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) store(out, j, a[j] * ((load(row, j) - k[j]) - mu[j]) + beta[j]);
      }
    }
  }
}

// dgamma, dbeta: (n, c) per-sample partial sums (the caller sums over n).
template <typename T, bool ACT>  // ACT a template argument: no branch inside the vectorized loops
void backward(const T* x, const T* dy, const float* gamma, const float* beta, const double* mean,
              const float* rstd, T* dx, float* dgamma, float* dbeta, int64_t n, int64_t p, int64_t c, int64_t G,
              int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> a(c), k(c), mu(c), r(c), sd(c), sdx(c), cx(c), cc(c);
    std::vector<float> dzs(ACT ? p * c : 0);  // dz of this sample (a few hundred kB: stays in L2 for the second pass)
    const T* xi = x + i * p * c;
    const T* gi = dy + i * p * c;
    T* di = dx + i * p * c;
    const int64_t cg = c / G;
    for (int64_t j = 0; j < c; ++j) {
      r[j] = rstd[i * G + j / cg];
      k[j] = load(xi, j);
      mu[j] = static_cast<float>(mean[i * G + j / cg] - k[j]);  // mu - k, as in the forward
      a[j] = r[j] * gamma[j];
      sd[j] = 0.f;
      sdx[j] = 0.f;
    }
    for (int64_t q = 0; q < p; ++q) {
      const T* row = xi + q * c;
      const T* grow = gi + q * c;
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) {
        float v = load(row, j) - k[j], g = load(grow, j);
        float dz = g;
        if constexpr (ACT) {
          float z = a[j] * (v - mu[j]) + beta[j], sg = sigmoid(z);  // v is x - k here
          dz = g * sg * (1.f + z * (1.f - sg));
          dzs[q * c + j] = dz;
        }
        sd[j] += dz;
        sdx[j] += dz * (v - mu[j]) * r[j];
      }
    }
    const double m = static_cast<double>(p) * cg;
    for (int64_t g = 0; g < G; ++g) {
      double m1 = 0.0, m2 = 0.0;  // mean_g(gamma dz), mean_g(gamma dz xhat)
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
        m1 += static_cast<double>(gamma[j]) * sd[j];
        m2 += static_cast<double>(gamma[j]) * sdx[j];
      }
      m1 /= m;
      m2 /= m;
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {  // dx = a dz + cx (x - mu) + cc
        cx[j] = static_cast<float>(-r[j] * r[j] * m2);
        cc[j] = static_cast<float>(-r[j] * m1);
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      dgamma[i * c + j] = sdx[j];
      dbeta[i * c + j] = sd[j];
    }
    for (int64_t q = 0; q < p; ++q) {
      const T* row = xi + q * c;
      const T* grow = gi + q * c;
      T* out = di + q * c;
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) {
        float v = load(row, j) - k[j];
        float dz;
        if constexpr (ACT)
          dz = dzs[q * c + j];
        else
          dz = load(grow, j);
        store(out, j, a[j] * dz + cx[j] * (v - mu[j]) + cc[j]);
      }
    }
  }
}

}  // namespace

extern "C" {

int genlab_gn_abi() { return 2; }

void genlab_gn_forward(int bf16, const void* x, const float* gamma, const float* beta, void* y, double* mean,
                       float* rstd, int64_t n, int64_t p, int64_t c, int64_t G, float eps, int act, int threads) {
  if (bf16)
    forward(static_cast<const uint16_t*>(x), gamma, beta, static_cast<uint16_t*>(y), mean, rstd, n, p, c, G, eps,
            act, threads);
  else
    forward(static_cast<const float*>(x), gamma, beta, static_cast<float*>(y), mean, rstd, n, p, c, G, eps, act,
            threads);
}

void genlab_gn_backward(int bf16, const void* x, const void* dy, const float* gamma, const float* beta,
                        const double* mean, const float* rstd, void* dx, float* dgamma, float* dbeta, int64_t n,
                        int64_t p, int64_t c, int64_t G, int act, int threads) {
  auto xb = static_cast<const uint16_t*>(x), gb = static_cast<const uint16_t*>(dy);
  auto xf = static_cast<const float*>(x), gf = static_cast<const float*>(dy);
  auto db = static_cast<uint16_t*>(dx);
  auto df = static_cast<float*>(dx);
  if (bf16 && act)
    backward<uint16_t, true>(xb, gb, gamma, beta, mean, rstd, db, dgamma, dbeta, n, p, c, G, threads);
  else if (bf16)
    backward<uint16_t, false>(xb, gb, gamma, beta, mean, rstd, db, dgamma, dbeta, n, p, c, G, threads);
  else if (act)
    backward<float, true>(xf, gf, gamma, beta, mean, rstd, df, dgamma, dbeta, n, p, c, G, threads);
  else
    backward<float, false>(xf, gf, gamma, beta, mean, rstd, df, dgamma, dbeta, n, p, c, G, threads);
}

}  // extern "C"
