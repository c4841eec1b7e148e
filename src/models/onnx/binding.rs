//! Repeated runs of one session through an ONNX Runtime I/O binding, so the tensors a pipeline
//! feeds back into the next step stay on the session's device and constant inputs are copied to
//! it once.
//!
//! A captioner's decoder runs once per token. Through a plain `Session::run`, its key/value
//! caches (which grow every step) travel device → host → device each step and the encoder states
//! are copied to the device each step. Bound instead, the encoder states are copied once, the
//! caches never leave the device, and only the logits come back to the host, where the next
//! token is chosen. A UNet's text conditioning is likewise bound once for all its steps. On the
//! CPU provider the device is host memory and the same code runs (that is the path the tests
//! cover).

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Value, ValueTypeMarker};

use super::session::inference;
use crate::models::ModelError;

/// Where a session's outputs are kept between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Host,
    /// CUDA device memory (the CUDA and TensorRT providers).
    Cuda,
}

impl Placement {
    /// CUDA when the session has a CUDA allocator (its CUDA provider registered), else host. Asked
    /// of the session itself: a CUDA provider that failed to register falls back to the CPU.
    pub fn of(session: &Session) -> Self {
        match cuda_memory() {
            Ok(memory) if Allocator::new(session, memory.clone()).is_ok() => Self::Cuda,
            _ => Self::Host,
        }
    }

    fn memory(self) -> ort::Result<MemoryInfo<'static>> {
        match self {
            Self::Host => host_memory(),
            Self::Cuda => cuda_memory(),
        }
    }
}

fn cuda_memory() -> ort::Result<MemoryInfo<'static>> {
    MemoryInfo::new(
        AllocationDevice::CUDA,
        0,
        AllocatorType::Device,
        MemoryType::Default,
    )
}

/// Plain host memory (ONNX Runtime copies a device output there at the end of the run).
fn host_memory() -> ort::Result<MemoryInfo<'static>> {
    MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Device,
        MemoryType::Default,
    )
}

/// One session's binding for one generation (a caption's token steps, an image's UNet steps):
/// inputs bound by name (kept until rebound), outputs either on the device (fed back next step)
/// or on the host (read by the caller).
pub struct BoundSession {
    model: String,
    binding: IoBinding,
    placement: Placement,
    device: MemoryInfo<'static>,
    host: MemoryInfo<'static>,
    device_outputs: Vec<String>,
    host_outputs: Vec<String>,
    /// Makes the next GPU step fail, to test the fallback without a GPU.
    fail_next_gpu_step: bool,
}

/// One step's outputs, by name, owned (device outputs stay on the device).
pub struct BoundOutputs {
    values: Vec<(String, DynValue)>,
}

impl BoundOutputs {
    pub fn get(&self, name: &str) -> Option<&DynValue> {
        self.values
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    pub fn remove(&mut self, name: &str) -> Option<DynValue> {
        let at = self.values.iter().position(|(key, _)| key == name)?;
        Some(self.values.swap_remove(at).1)
    }
}

impl BoundSession {
    /// A binding on `session` whose `device_outputs` go to `placement` (the session's, from
    /// [`Placement::of`] once per loaded model) and `host_outputs` to host memory.
    pub fn new(
        model: &str,
        session: &Session,
        host_outputs: &[&str],
        device_outputs: Vec<String>,
        placement: Placement,
    ) -> Result<Self, ModelError> {
        let fail = |e: ort::Error| inference(model, format!("setting up the I/O binding: {e}"));
        Ok(Self {
            model: model.to_owned(),
            binding: session.create_binding().map_err(fail)?,
            placement,
            device: placement.memory().map_err(fail)?,
            host: host_memory().map_err(fail)?,
            device_outputs,
            host_outputs: host_outputs.iter().map(|name| (*name).to_owned()).collect(),
            fail_next_gpu_step: false,
        })
    }

    /// Tests only: the next step with GPU placement fails as a binding problem would.
    #[doc(hidden)]
    pub fn fail_next_gpu_step(&mut self) {
        self.fail_next_gpu_step = true;
    }

    /// Where device outputs go now (host after a fallback).
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Binds `value` (host or device) to input `name` for every later step until rebound.
    pub fn bind<T: ValueTypeMarker + ?Sized>(
        &mut self,
        name: &str,
        value: &Value<T>,
    ) -> Result<(), ModelError> {
        self.binding
            .bind_input(name, value)
            .map_err(|e| inference(&self.model, format!("binding input {name}: {e}")))
    }

    /// Binds a list of owned values (e.g. the caches the previous step returned).
    pub fn bind_all(&mut self, values: &[(String, DynValue)]) -> Result<(), ModelError> {
        for (name, value) in values {
            self.bind(name, value)?;
        }
        Ok(())
    }

    /// Runs one step. If a step with outputs on the GPU fails, it is retried once with every
    /// output on the host and the rest of the generation stays there: slower, but a binding
    /// problem on some driver or provider version does not stop an experiment.
    pub fn run(&mut self, session: &mut Session) -> Result<BoundOutputs, ModelError> {
        match self.try_run(session) {
            Err(error) if self.placement != Placement::Host => {
                tracing::warn!(
                    "{}: a step with outputs bound to the GPU failed ({error}); continuing with outputs on the host",
                    self.model
                );
                self.placement = Placement::Host;
                self.device = self.host.clone();
                self.try_run(session)
            }
            result => result,
        }
    }

    /// Outputs are bound afresh each step: their shapes change (the caches grow), and ONNX
    /// Runtime would otherwise try to reuse last step's buffers, which are now inputs.
    fn try_run(&mut self, session: &mut Session) -> Result<BoundOutputs, ModelError> {
        let model = self.model.as_str();
        let fail = |what: &str, e: ort::Error| inference(model, format!("{what}: {e}"));
        if self.placement != Placement::Host && std::mem::take(&mut self.fail_next_gpu_step) {
            return Err(inference(model, "injected failure of a GPU step"));
        }
        self.binding.clear_outputs();
        for name in &self.device_outputs {
            self.binding
                .bind_output_to_device(name.as_str(), &self.device)
                .map_err(|e| fail("binding a device output", e))?;
        }
        for name in &self.host_outputs {
            self.binding
                .bind_output_to_device(name.as_str(), &self.host)
                .map_err(|e| fail("binding a host output", e))?;
        }
        let mut outputs = session
            .run_binding(&self.binding)
            .map_err(|e| fail("run", e))?;
        self.binding
            .synchronize_outputs()
            .map_err(|e| fail("waiting for the device", e))?;
        let mut values = Vec::with_capacity(self.device_outputs.len() + self.host_outputs.len());
        for name in self.device_outputs.iter().chain(&self.host_outputs) {
            let value = outputs
                .remove(name.as_str())
                .ok_or_else(|| inference(model, format!("the run gave no {name}")))?;
            values.push((name.clone(), value));
        }
        Ok(BoundOutputs { values })
    }
}
