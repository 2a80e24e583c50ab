// Surrogate-gradient derivatives, one per shape of jaxsnn/core/surrogate.py.
//
// The shape is a template parameter so that each backward loop is compiled branch-free for its
// shape and vectorizes; the integer codes are SHAPE_INDEX of the Python module. Every formula
// evaluates in the same float32 operation order as its Python twin so that kernel and reference
// gradients differ only by the last bits of exp/pow.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

namespace jaxsnn {

enum class Shape : int64_t {
  kTriangular = 0,
  kExponential = 1,
  kFastSigmoid = 2,
  kRectangular = 3,
  kSigmoidDerivative = 4,
  kGaussian = 5,
  kQPseudoSpike = 6,
};
inline constexpr float kPi = 3.14159265358979323846f;

// The surrogate dz/du at centred voltage u with peak gamma, sharpness beta and tail q.
template <Shape S>
inline float SurrogateDerivative(float u, float gamma, float beta, float q) {
  const float au = std::fabs(u);
  if constexpr (S == Shape::kTriangular) {
    const float x = 1.0f - beta * au;
    return gamma * (x < 0.0f ? 0.0f : x);  // jnp.maximum(x, 0): NaN stays NaN, no branch
  } else if constexpr (S == Shape::kExponential) {
    return gamma * std::exp(-2.0f * beta * au);
  } else if constexpr (S == Shape::kFastSigmoid) {
    const float d = 1.0f + 2.0f * beta * au;
    return gamma / (d * d);
  } else if constexpr (S == Shape::kRectangular) {
    return std::fabs(2.0f * beta * u) < 1.0f ? gamma : 0.0f;
  } else if constexpr (S == Shape::kSigmoidDerivative) {
    const float s = 1.0f / (1.0f + std::exp(-4.0f * beta * u));
    return 4.0f * gamma * s * (1.0f - s);
  } else if constexpr (S == Shape::kGaussian) {
    return gamma * std::exp(-kPi * (beta * beta) * (u * u));
  } else {
    static_assert(S == Shape::kQPseudoSpike, "unhandled surrogate shape");
    return gamma / std::pow(1.0f + 2.0f * beta * au / (q - 1.0f), q);
  }
}

// Calls fn(std::integral_constant<Shape, S>{}) for the runtime code; false if the code is unknown.
template <typename Fn>
bool DispatchShape(int64_t code, Fn&& fn) {
  switch (static_cast<Shape>(code)) {
#define JAXSNN_SHAPE_CASE(S) \
  case S:                    \
    fn(std::integral_constant<Shape, S>{}); \
    return true;
    JAXSNN_SHAPE_CASE(Shape::kTriangular)
    JAXSNN_SHAPE_CASE(Shape::kExponential)
    JAXSNN_SHAPE_CASE(Shape::kFastSigmoid)
    JAXSNN_SHAPE_CASE(Shape::kRectangular)
    JAXSNN_SHAPE_CASE(Shape::kSigmoidDerivative)
    JAXSNN_SHAPE_CASE(Shape::kGaussian)
    JAXSNN_SHAPE_CASE(Shape::kQPseudoSpike)
#undef JAXSNN_SHAPE_CASE
  }
  return false;
}

}  // namespace jaxsnn
