// The XLA FFI handlers exported to Python (as PyCapsules by module.cc).
#pragma once

#include "xla/ffi/api/ffi.h"

XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxsnnLifForward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxsnnLifBackward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxsnnEventProject);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxsnnEventProjectGradW);
