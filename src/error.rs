//! The one error type of the engine: each module's typed error folds in
//! here with `#[from]`. Messages are lower-case, carry context (which path,
//! which image) and say what to do.

/// Any error the engine reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The student quit at a step-through pause.
    #[error(transparent)]
    Aborted(#[from] crate::trace::Aborted),
    /// A command line that cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    /// Making or running a container failed.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The store refused or could not do something.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// No image by that reference.
    #[error(transparent)]
    MissingImage(#[from] crate::store::MissingImage),
    /// An image reference that breaks Docker's rules.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// A file given to import or load that cannot be used.
    #[error(transparent)]
    Archive(#[from] crate::image::import::ArchiveError),
    /// A build stopped at an instruction (a Dockerfile diagnostic).
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    /// A volume or `-v` argument that cannot be used.
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    /// A registry could not be reached or refused a request.
    #[error(transparent)]
    Registry(Box<crate::registry::client::RegistryError>),
    /// The registry server could not start.
    #[error(transparent)]
    RegistryServer(#[from] crate::registry::server::ServerError),
    /// `compare vm` could not measure one side.
    #[error(transparent)]
    Compare(#[from] crate::compare::CompareError),
    /// A published port that cannot be set up.
    #[error(transparent)]
    Port(crate::network::port::PortError),
    /// A network or network option that cannot be used.
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
    /// The daemon could not start.
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
    /// `glassbox-runc` (the OCI runtime CLI) refused or failed.
    #[error(transparent)]
    Oci(#[from] crate::ocirt::OciError),
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and to which path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::network::port::PortError> for Error {
    fn from(e: crate::network::port::PortError) -> Self {
        match e {
            crate::network::port::PortError::Aborted(a) => Error::Aborted(a),
            e => Error::Port(e),
        }
    }
}

impl From<crate::kernel::KernelError> for Error {
    fn from(e: crate::kernel::KernelError) -> Self {
        match e {
            crate::kernel::KernelError::Aborted(a) => Error::Aborted(a),
            crate::kernel::KernelError::Refused { what, call, source } => Error::Io {
                context: format!("{what} ({call})"),
                source,
            },
        }
    }
}

/// Short for `Result<T, glassbox::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds "what was being done" to I/O errors.
pub trait IoContext<T> {
    /// Wraps an I/O error with `context`.
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
