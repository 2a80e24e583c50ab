// XLA FFI bindings of the LIF forward and backward loops: shape checks, vmap problems, threads.
//
// Operands (vmap dimensions, if any, lead every one of them):
//   forward:  currents (T,B,N), alpha (N), theta (N), w_rec (N,N) or (0,N) for none, v0 (B,N),
//             z0 (B,N) -> spikes (T,B,N), voltages (T,B,N) or (0,B,N) to skip, v_final, z_final
//   backward: alpha, theta, w_rec, v0, z0, sg (3,N) = gamma/beta/q rows, spikes, voltages,
//             g_spikes, g_voltages (T,B,N) or (0,B,N), g_v_final, g_z_final
//             -> g_currents, g_alpha, g_theta, g_w_rec (shape of w_rec), g_v0, g_z0
// Surrogate parameters are operands, not attributes, so sweeping them never recompiles.
#include <vector>

#include "ffi_shapes.h"
#include "handlers.h"
#include "lif_kernels.h"
#include "parallel.h"
#include "surrogate.h"

namespace jaxsnn {
namespace {

using F32 = ffi::Buffer<ffi::F32>;
using F32Out = ffi::ResultBuffer<ffi::F32>;
constexpr char kForward[] = "jaxsnn_lif_forward";
constexpr char kBackward[] = "jaxsnn_lif_backward";

// Checks the operands shared by both passes against dims (T, B, N) and the vmap dimensions.
ShapeCheck& CheckParams(ShapeCheck& check, const LifDims& d, const F32& alpha, const F32& theta,
                        const F32& w_rec, const F32& v0, const F32& z0) {
  return check.Expect("alpha", alpha.dimensions(), {{d.N}})
      .Expect("theta", theta.dimensions(), {{d.N}})
      .Expect("w_rec", w_rec.dimensions(), {{d.N, d.N}, {0, d.N}})
      .Expect("v0", v0.dimensions(), {{d.B, d.N}})
      .Expect("z0", z0.dimensions(), {{d.B, d.N}});
}

ffi::Error CheckReset(std::string_view op, int64_t reset) {
  if (reset == static_cast<int64_t>(Reset::kSubtract) || reset == static_cast<int64_t>(Reset::kZero)) {
    return ffi::Error::Success();
  }
  return ffi::Error::InvalidArgument(std::string(op) + ": unknown reset code " + std::to_string(reset));
}

// (T, B, N) from the trailing dimensions of a (..., T, B, N) operand.
ffi::Error TimeBatchNeurons(std::string_view op, Dims dims, LifDims& d) {
  if (dims.size() < 3) {
    return ffi::Error::InvalidArgument(std::string(op) + ": expected (..., T, B, N) operands");
  }
  const size_t r = dims.size();
  d = {dims[r - 3], dims[r - 2], dims[r - 1]};
  return ffi::Error::Success();
}

// Pointer to problem g of a batched operand, or nullptr if the operand is empty (absent).
template <typename T>
T* Problem(T* base, int64_t count, int64_t problems, int64_t g) {
  return count == 0 ? nullptr : base + g * (count / problems);
}

// out[g, n] = sum over rows b (in order, in double) of rows[g, b, n], rounded once to float32.
void ReduceRows(const std::vector<float>& rows, int64_t G, int64_t B, int64_t N, float* out) {
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0.0;
      for (int64_t b = 0; b < B; ++b) sum += rows[(g * B + b) * N + n];
      out[g * N + n] = static_cast<float>(sum);
    }
  }
}

ffi::Error LifForwardImpl(ffi::ThreadPool pool, F32 currents, F32 alpha, F32 theta, F32 w_rec,
                          F32 v0, F32 z0, F32Out spikes, F32Out voltages, F32Out v_final,
                          F32Out z_final, int64_t reset) {
  LifDims d;
  if (ffi::Error e = TimeBatchNeurons(kForward, currents.dimensions(), d); e.failure()) return e;
  const Leading lead(currents.dimensions(), 3);
  if (ffi::Error e = CheckReset(kForward, reset); e.failure()) return e;
  ShapeCheck check(kForward, lead);
  CheckParams(check, d, alpha, theta, w_rec, v0, z0)
      .Expect("spikes", spikes->dimensions(), {{d.T, d.B, d.N}})
      .Expect("voltages", voltages->dimensions(), {{d.T, d.B, d.N}, {0, d.B, d.N}})
      .Expect("v_final", v_final->dimensions(), {{d.B, d.N}})
      .Expect("z_final", z_final->dimensions(), {{d.B, d.N}});
  if (check.failed()) return check.error();
  const int64_t G = lead.count;
  const int64_t chunks = ChunkCount(d.B, d.T * d.N);
  ParallelFor(pool, G * chunks, [&](int64_t item) {
    const int64_t g = item / chunks;
    const auto [b0, b1] = ChunkRange(d.B, chunks, item % chunks);
    const LifInputs in{
        Problem(currents.typed_data(), currents.element_count(), G, g),
        Problem(alpha.typed_data(), alpha.element_count(), G, g),
        Problem(theta.typed_data(), theta.element_count(), G, g),
        Problem(w_rec.typed_data(), w_rec.element_count(), G, g),
        Problem(v0.typed_data(), v0.element_count(), G, g),
        Problem(z0.typed_data(), z0.element_count(), G, g),
    };
    const LifForwardOutputs out{
        Problem(spikes->typed_data(), spikes->element_count(), G, g),
        Problem(voltages->typed_data(), voltages->element_count(), G, g),
        Problem(v_final->typed_data(), v_final->element_count(), G, g),
        Problem(z_final->typed_data(), z_final->element_count(), G, g),
    };
    LifForward(d, static_cast<Reset>(reset), in, out, b0, b1);
  });
  return ffi::Error::Success();
}

ffi::Error LifBackwardImpl(ffi::ThreadPool pool, F32 alpha, F32 theta, F32 w_rec, F32 v0, F32 z0,
                           F32 sg, F32 spikes, F32 voltages, F32 g_spikes, F32 g_voltages,
                           F32 g_v_final, F32 g_z_final, F32Out g_currents, F32Out g_alpha,
                           F32Out g_theta, F32Out g_w_rec, F32Out g_v0, F32Out g_z0, int64_t shape,
                           int64_t reset, bool detach_reset) {
  LifDims d;
  if (ffi::Error e = TimeBatchNeurons(kBackward, spikes.dimensions(), d); e.failure()) return e;
  const Leading lead(spikes.dimensions(), 3);
  if (ffi::Error e = CheckReset(kBackward, reset); e.failure()) return e;
  if (shape < 0 || shape > static_cast<int64_t>(Shape::kQPseudoSpike)) {
    return ffi::Error::InvalidArgument(std::string(kBackward) + ": unknown surrogate shape code " +
                                       std::to_string(shape));
  }
  const std::vector<int64_t> tbn{d.T, d.B, d.N}, bn{d.B, d.N};
  ShapeCheck check(kBackward, lead);
  CheckParams(check, d, alpha, theta, w_rec, v0, z0)
      .Expect("sg", sg.dimensions(), {{3, d.N}})
      .Expect("spikes", spikes.dimensions(), {tbn})
      .Expect("voltages", voltages.dimensions(), {tbn})
      .Expect("g_spikes", g_spikes.dimensions(), {tbn})
      .Expect("g_voltages", g_voltages.dimensions(), {tbn, {0, d.B, d.N}})
      .Expect("g_v_final", g_v_final.dimensions(), {bn})
      .Expect("g_z_final", g_z_final.dimensions(), {bn})
      .Expect("g_currents", g_currents->dimensions(), {tbn})
      .Expect("g_alpha", g_alpha->dimensions(), {{d.N}})
      .Expect("g_theta", g_theta->dimensions(), {{d.N}})
      .Expect("g_w_rec", g_w_rec->dimensions(), {{d.N, d.N}, {0, d.N}})
      .Expect("g_v0", g_v0->dimensions(), {bn})
      .Expect("g_z0", g_z0->dimensions(), {bn});
  if (check.failed()) return check.error();
  if ((g_w_rec->element_count() == 0) != (w_rec.element_count() == 0)) {
    return ffi::Error::InvalidArgument(std::string(kBackward) + ": g_w_rec must match w_rec");
  }
  const int64_t G = lead.count;
  const bool recurrent = w_rec.element_count() > 0;
  std::vector<float> alpha_rows(G * d.B * d.N, 0.0f), theta_rows(G * d.B * d.N, 0.0f);
  const int64_t chunks = ChunkCount(d.B, d.T * d.N * (recurrent ? d.N : 1));
  ParallelFor(pool, G * chunks, [&](int64_t item) {
    const int64_t g = item / chunks;
    const auto [b0, b1] = ChunkRange(d.B, chunks, item % chunks);
    const float* sg_g = Problem(sg.typed_data(), sg.element_count(), G, g);
    const LifBackwardInputs in{
        LifInputs{
            nullptr,
            Problem(alpha.typed_data(), alpha.element_count(), G, g),
            Problem(theta.typed_data(), theta.element_count(), G, g),
            Problem(w_rec.typed_data(), w_rec.element_count(), G, g),
            Problem(v0.typed_data(), v0.element_count(), G, g),
            Problem(z0.typed_data(), z0.element_count(), G, g),
        },
        sg_g,
        sg_g + d.N,
        sg_g + 2 * d.N,
        Problem(spikes.typed_data(), spikes.element_count(), G, g),
        Problem(voltages.typed_data(), voltages.element_count(), G, g),
        Problem(g_spikes.typed_data(), g_spikes.element_count(), G, g),
        Problem(g_voltages.typed_data(), g_voltages.element_count(), G, g),
        Problem(g_v_final.typed_data(), g_v_final.element_count(), G, g),
        Problem(g_z_final.typed_data(), g_z_final.element_count(), G, g),
    };
    const LifBackwardOutputs out{
        Problem(g_currents->typed_data(), g_currents->element_count(), G, g),
        Problem(g_v0->typed_data(), g_v0->element_count(), G, g),
        Problem(g_z0->typed_data(), g_z0->element_count(), G, g),
        alpha_rows.data() + g * d.B * d.N,
        theta_rows.data() + g * d.B * d.N,
    };
    LifBackward(d, shape, static_cast<Reset>(reset), detach_reset, in, out, b0, b1);
  });
  ReduceRows(alpha_rows, G, d.B, d.N, g_alpha->typed_data());
  ReduceRows(theta_rows, G, d.B, d.N, g_theta->typed_data());
  if (recurrent) {
    const int64_t w_chunks = ChunkCount(d.N, d.T * d.B);
    ParallelFor(pool, G * w_chunks, [&](int64_t item) {
      const int64_t g = item / w_chunks;
      const auto [m0, m1] = ChunkRange(d.N, w_chunks, item % w_chunks);
      LifRecurrentWeightGrad(d, Problem(spikes.typed_data(), spikes.element_count(), G, g),
                             Problem(z0.typed_data(), z0.element_count(), G, g),
                             Problem(g_currents->typed_data(), g_currents->element_count(), G, g),
                             Problem(g_w_rec->typed_data(), g_w_rec->element_count(), G, g), m0, m1);
    });
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxsnn

namespace ffi = xla::ffi;

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnLifForward, jaxsnn::LifForwardImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // currents
                                  .Arg<ffi::Buffer<ffi::F32>>()  // alpha
                                  .Arg<ffi::Buffer<ffi::F32>>()  // theta
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_rec
                                  .Arg<ffi::Buffer<ffi::F32>>()  // v0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // z0
                                  .Ret<ffi::Buffer<ffi::F32>>()  // spikes
                                  .Ret<ffi::Buffer<ffi::F32>>()  // voltages
                                  .Ret<ffi::Buffer<ffi::F32>>()  // v_final
                                  .Ret<ffi::Buffer<ffi::F32>>()  // z_final
                                  .Attr<int64_t>("reset"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnLifBackward, jaxsnn::LifBackwardImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // alpha
                                  .Arg<ffi::Buffer<ffi::F32>>()  // theta
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w_rec
                                  .Arg<ffi::Buffer<ffi::F32>>()  // v0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // z0
                                  .Arg<ffi::Buffer<ffi::F32>>()  // sg
                                  .Arg<ffi::Buffer<ffi::F32>>()  // spikes
                                  .Arg<ffi::Buffer<ffi::F32>>()  // voltages
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_spikes
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_voltages
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_v_final
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g_z_final
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_currents
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_alpha
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_theta
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_w_rec
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_v0
                                  .Ret<ffi::Buffer<ffi::F32>>()  // g_z0
                                  .Attr<int64_t>("shape")
                                  .Attr<int64_t>("reset")
                                  .Attr<bool>("detach_reset"));
