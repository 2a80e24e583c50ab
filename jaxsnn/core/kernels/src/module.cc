// The CPython extension `_lif_ffi`: hands the FFI handlers to Python as PyCapsules.
//
// A plain extension module (rather than a ctypes-loaded library) imports like any other module
// under both a wheel install and scikit-build-core's editable redirect, and needs no binding
// library at build time.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "handlers.h"

namespace {

struct Target {
  const char* name;
  XLA_FFI_Handler* handler;
};

constexpr Target kTargets[] = {
    {"jaxsnn_lif_forward", JaxsnnLifForward},
    {"jaxsnn_lif_backward", JaxsnnLifBackward},
    {"jaxsnn_event_project", JaxsnnEventProject},
    {"jaxsnn_event_project_grad_w", JaxsnnEventProjectGradW},
};

// targets() -> {name: PyCapsule(handler)} for jax.ffi.register_ffi_target.
PyObject* Targets(PyObject*, PyObject*) {
  PyObject* dict = PyDict_New();
  if (dict == nullptr) return nullptr;
  for (const Target& target : kTargets) {
    PyObject* capsule = PyCapsule_New(reinterpret_cast<void*>(target.handler), nullptr, nullptr);
    if (capsule == nullptr || PyDict_SetItemString(dict, target.name, capsule) < 0) {
      Py_XDECREF(capsule);
      Py_DECREF(dict);
      return nullptr;
    }
    Py_DECREF(capsule);
  }
  return dict;
}

PyMethodDef kMethods[] = {
    {"targets", Targets, METH_NOARGS, "FFI target name -> PyCapsule of its XLA FFI handler."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_lif_ffi", "Compiled LIF and event-projection XLA FFI handlers.", -1,
    kMethods, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__lif_ffi() { return PyModule_Create(&kModule); }
