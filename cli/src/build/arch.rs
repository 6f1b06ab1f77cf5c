//! The instruction sets Lambda runs (`--arch`, `Architectures`) and what each is
//! called by Rust, ELF and Lambda.

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Intel/AMD 64-bit
    #[value(name = "x86_64")]
    X86_64,
    /// Graviton (cheaper per ms on Lambda)
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    /// The Rust target triple.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The `--arch` value, which is also Lambda's `Architectures` value.
    pub fn flag(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86-64",
            Arch::Arm64 => "arm64 (AArch64)",
        }
    }

    /// ELF `e_machine`.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => object::elf::EM_X86_64.0,
            Arch::Arm64 => object::elf::EM_AARCH64.0,
        }
    }

    /// The other architecture: the alternative an error can offer.
    pub fn other(self) -> Arch {
        match self {
            Arch::X86_64 => Arch::Arm64,
            Arch::Arm64 => Arch::X86_64,
        }
    }

    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        [Arch::X86_64, Arch::Arm64]
            .into_iter()
            .find(|a| a.elf_machine() == machine)
    }
}
