//! Repeated runs of one session through an ONNX Runtime I/O binding, so the tensors a pipeline
//! feeds back into the next step stay on the session's device and constant inputs are copied to
//! it once.
//!
//! A captioner's decoder runs once per token. Through a plain `Session::run`, its key/value
//! caches (which grow every step) travel device → host → device each step and the encoder states
//! are copied to the device each step. Bound instead, the encoder states are copied once, the
//! caches never leave the device, and only the logits come back to the host, where the next
//! token is chosen. On the CPU provider the device is host memory and the same code runs (that is
//! the path the tests cover).

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session, SessionOutputs};
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
    device: MemoryInfo<'static>,
    host: MemoryInfo<'static>,
    device_outputs: Vec<String>,
    host_outputs: Vec<String>,
}

impl BoundSession {
    pub fn new(
        model: &str,
        session: &Session,
        host_outputs: &[&str],
        device_outputs: Vec<String>,
    ) -> Result<Self, ModelError> {
        let fail = |e: ort::Error| inference(model, format!("setting up the I/O binding: {e}"));
        Ok(Self {
            model: model.to_owned(),
            binding: session.create_binding().map_err(fail)?,
            device: Placement::of(session).memory().map_err(fail)?,
            host: host_memory().map_err(fail)?,
            device_outputs,
            host_outputs: host_outputs.iter().map(|name| (*name).to_owned()).collect(),
        })
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

    /// Runs one step. Outputs are bound afresh each step: their shapes change (the caches grow),
    /// and ONNX Runtime would otherwise try to reuse last step's buffers, which are now inputs.
    pub fn run<'s>(
        &'s mut self,
        session: &'s mut Session,
    ) -> Result<SessionOutputs<'s>, ModelError> {
        let fail = |what: &str, e: ort::Error| inference(&self.model, format!("{what}: {e}"));
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
        let outputs = session
            .run_binding(&self.binding)
            .map_err(|e| fail("run", e))?;
        self.binding
            .synchronize_outputs()
            .map_err(|e| fail("waiting for the device", e))?;
        Ok(outputs)
    }
}
