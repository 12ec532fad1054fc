//! ABI tooling for Umbra's EVM contract kind, built on the alloy crates (`alloy-json-abi`,
//! `alloy-dyn-abi`, `alloy-sol-types`, `alloy-primitives`): nothing here encodes or decodes ABI
//! data by hand.
//!
//! - [`Artifact::from_json`] reads a compiled contract as Foundry and Hardhat write it
//!   (`{"abi": [...], "bytecode": "0x..."}` or `{"bytecode": {"object": "0x..."}}`) and enforces
//!   the code size limits of EIP-170 (runtime code) and EIP-3860 (initcode).
//! - [`resolve_function`] turns a human signature (`transfer(address,uint256)`) or a bare name
//!   looked up in an ABI into a function; [`encode_call`] and [`encode_function_call`] encode a
//!   call from string arguments, [`encode_constructor`] the deployment code with constructor
//!   arguments.
//! - [`decode_return`], [`decode_revert`] and [`decode_log`] turn what the EVM returns into
//!   printable strings.

use std::fmt;

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt, FunctionExt, JsonAbiExt, Specifier};
use alloy_json_abi::{Function, JsonAbi, Param};
use alloy_primitives::hex;
use alloy_sol_types::{Panic, Revert as RevertString, SolError};

pub mod apps;

pub use alloy_json_abi;
pub use alloy_primitives::{Address, Bytes, B256, U256};
pub use alloy_sol_types;

/// Largest runtime code a contract may have (EIP-170).
pub const MAX_CODE_SIZE: usize = 24_576;
/// Largest initcode a deployment may carry (EIP-3860: twice [`MAX_CODE_SIZE`]).
pub const MAX_INITCODE_SIZE: usize = 2 * MAX_CODE_SIZE;

/// Everything that can go wrong reading artifacts, encoding or decoding. Each message is one
/// line meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    /// The artifact is not JSON of the expected shape.
    #[error("bad artifact: {0}")]
    BadArtifact(String),
    /// Bytecode that is not hex.
    #[error("bad {what} hex: {reason}")]
    BadBytecodeHex {
        /// Which code (bytecode, deployedBytecode).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Code over the EIP-170 / EIP-3860 limits.
    #[error("{what} is {size} bytes, over the {limit}-byte limit ({eip})")]
    CodeTooLarge {
        /// Which code (runtime code, initcode).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
        /// The rule that sets it.
        eip: &'static str,
    },
    /// A function signature that does not parse.
    #[error("bad function signature {signature:?}: {reason}")]
    BadSignature {
        /// The signature as given.
        signature: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A function the ABI does not have.
    #[error("the ABI has no function {name:?} (it has: {available})")]
    UnknownFunction {
        /// The name or signature asked for.
        name: String,
        /// The ABI's function signatures, comma separated.
        available: String,
    },
    /// A bare name that matches several overloads.
    #[error("{name:?} is overloaded, give the full signature: {candidates}")]
    AmbiguousFunction {
        /// The name asked for.
        name: String,
        /// The matching signatures.
        candidates: String,
    },
    /// A bare function name with no ABI to look it up in.
    #[error("{name:?} is not a signature: write it as name(type,...) or give the contract's ABI")]
    NeedSignature {
        /// The name asked for.
        name: String,
    },
    /// Wrong number of arguments.
    #[error("{function} takes {expected} argument(s), {got} given")]
    ArgCount {
        /// The function (or `constructor`).
        function: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// An argument that does not parse as its parameter's type.
    #[error("argument {position} ({param}): {value:?} is not a valid {ty}: {reason}")]
    BadArgument {
        /// 1-based position.
        position: usize,
        /// The parameter's name, or its type when unnamed.
        param: String,
        /// The parameter's type.
        ty: String,
        /// The argument as given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A parameter type the ABI library cannot resolve.
    #[error("unsupported parameter type {ty}: {reason}")]
    BadType {
        /// The type.
        ty: String,
        /// Why.
        reason: String,
    },
    /// Return data, revert data or a log that does not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A log whose first topic matches no event of the ABI.
    #[error("no event of the ABI matches topic0 {topic0}")]
    UnknownEvent {
        /// The first topic, or `none`.
        topic0: String,
    },
}

/// Turns a library error into a single line (alloy's parser errors can span several).
fn one_line(e: impl fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A compiled contract: its ABI and its deployment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The contract's ABI.
    pub abi: JsonAbi,
    /// The initcode (creation bytecode) without constructor arguments.
    pub bytecode: Bytes,
    /// The runtime code, when the artifact has it.
    pub deployed_bytecode: Option<Bytes>,
}

impl Artifact {
    /// Reads an artifact: `{"abi": [...], "bytecode": "0x..."}` (Hardhat, this repository's
    /// `solidity/build.js`) or `{"abi": [...], "bytecode": {"object": "0x..."}}` (Foundry);
    /// `deployedBytecode` is optional in either form. Refuses non-hex code, unlinked library
    /// placeholders, empty code and code over the EIP-170 / EIP-3860 limits.
    pub fn from_json(json: &str) -> Result<Self, AbiError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| AbiError::BadArtifact(one_line(e)))?;
        let obj =
            value.as_object().ok_or_else(|| AbiError::BadArtifact("not a JSON object".into()))?;
        let abi_value =
            obj.get("abi").ok_or_else(|| AbiError::BadArtifact("no \"abi\" field".into()))?;
        let abi: JsonAbi = serde_json::from_value(abi_value.clone())
            .map_err(|e| AbiError::BadArtifact(format!("\"abi\": {}", one_line(e))))?;
        let bytecode_value = obj
            .get("bytecode")
            .ok_or_else(|| AbiError::BadArtifact("no \"bytecode\" field".into()))?;
        let bytecode = code_field(bytecode_value, "bytecode")?;
        if bytecode.is_empty() {
            return Err(AbiError::BadArtifact(
                "empty bytecode (an interface or abstract contract cannot be deployed)".into(),
            ));
        }
        check_initcode_size(bytecode.len())?;
        let deployed_bytecode = match obj.get("deployedBytecode") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let code = code_field(v, "deployedBytecode")?;
                check_code_size(code.len())?;
                Some(code)
            }
        };
        Ok(Self { abi, bytecode, deployed_bytecode })
    }
}

/// Reads a code field: a hex string or an object with an `object` hex string.
fn code_field(value: &serde_json::Value, what: &'static str) -> Result<Bytes, AbiError> {
    let text = match value {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Object(o) => match o.get("object") {
            Some(serde_json::Value::String(s)) => s.as_str(),
            _ => {
                return Err(AbiError::BadArtifact(format!(
                    "\"{what}\" is an object without an \"object\" string"
                )))
            }
        },
        _ => {
            return Err(AbiError::BadArtifact(format!(
                "\"{what}\" is neither a hex string nor {{\"object\": ...}}"
            )))
        }
    };
    parse_code_hex(text, what)
}

/// Parses hex code (with or without `0x`), refusing unlinked library placeholders.
pub fn parse_code_hex(text: &str, what: &'static str) -> Result<Bytes, AbiError> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0x").unwrap_or(digits);
    if digits.contains("__") {
        return Err(AbiError::BadBytecodeHex {
            what,
            reason: "it has unlinked library placeholders (__$...$__): link the libraries first"
                .into(),
        });
    }
    hex::decode(digits)
        .map(Bytes::from)
        .map_err(|e| AbiError::BadBytecodeHex { what, reason: one_line(e) })
}

/// Refuses runtime code over [`MAX_CODE_SIZE`] (EIP-170).
pub fn check_code_size(len: usize) -> Result<(), AbiError> {
    if len > MAX_CODE_SIZE {
        return Err(AbiError::CodeTooLarge {
            what: "runtime code",
            size: len,
            limit: MAX_CODE_SIZE,
            eip: "EIP-170",
        });
    }
    Ok(())
}

/// Refuses initcode over [`MAX_INITCODE_SIZE`] (EIP-3860).
pub fn check_initcode_size(len: usize) -> Result<(), AbiError> {
    if len > MAX_INITCODE_SIZE {
        return Err(AbiError::CodeTooLarge {
            what: "initcode",
            size: len,
            limit: MAX_INITCODE_SIZE,
            eip: "EIP-3860",
        });
    }
    Ok(())
}

/// Parses a human-readable function signature: `transfer(address,uint256)`,
/// `balanceOf(address)(uint256)` (outputs in a second parenthesis, as `cast` writes them) or
/// `function balanceOf(address who) view returns (uint256)`.
pub fn parse_signature(signature: &str) -> Result<Function, AbiError> {
    let sig = signature.trim();
    let bad = |reason: String| AbiError::BadSignature { signature: signature.to_owned(), reason };
    // `name(in)(out)`: rewrite as `name(in) returns (out)` for alloy's parser.
    let rewritten;
    let sig = match split_cast_outputs(sig) {
        Some((inputs, outputs)) => {
            rewritten = format!("{inputs} returns {outputs}");
            rewritten.as_str()
        }
        None => sig,
    };
    let function = Function::parse(sig).map_err(|e| bad(one_line(e)))?;
    if function.name.is_empty() {
        return Err(bad("no function name".into()));
    }
    // Resolve every parameter type now, so a bad type is a signature error, not an encoding one.
    for p in function.inputs.iter().chain(&function.outputs) {
        p.resolve().map_err(|e| bad(format!("type {}: {}", p.ty, one_line(e))))?;
    }
    Ok(function)
}

/// Splits `name(a,b)(c)` into `name(a,b)` and `(c)`; `None` when there is no second group.
fn split_cast_outputs(sig: &str) -> Option<(&str, &str)> {
    if sig.contains(' ') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in sig.char_indices() {
        match c {
            '(' => depth = depth.checked_add(1)?,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let end = i.checked_add(1)?;
                    let rest = &sig[end..];
                    return (rest.starts_with('(')).then(|| (&sig[..end], rest));
                }
            }
            _ => {}
        }
    }
    None
}

/// Finds the function a command names. `spec` is a signature (anything with a parenthesis) or a
/// bare name. With an ABI, the function must be in it (a signature matches by selector, and the
/// ABI's entry, which knows the outputs, is returned); a bare name must name exactly one function.
/// Without an ABI, only a signature will do.
pub fn resolve_function(abi: Option<&JsonAbi>, spec: &str) -> Result<Function, AbiError> {
    let spec = spec.trim();
    let available = |abi: &JsonAbi| {
        let sigs: Vec<String> = abi.functions().map(|f| f.signature()).collect();
        if sigs.is_empty() {
            "no functions".to_owned()
        } else {
            sigs.join(", ")
        }
    };
    if spec.contains('(') {
        let parsed = parse_signature(spec)?;
        let Some(abi) = abi else { return Ok(parsed) };
        let selector = parsed.selector();
        return match abi.functions().find(|f| f.selector() == selector) {
            Some(f) => Ok(f.clone()),
            None => Err(AbiError::UnknownFunction {
                name: parsed.signature(),
                available: available(abi),
            }),
        };
    }
    let Some(abi) = abi else { return Err(AbiError::NeedSignature { name: spec.to_owned() }) };
    match abi.function(spec).map(Vec::as_slice) {
        None | Some([]) => {
            Err(AbiError::UnknownFunction { name: spec.to_owned(), available: available(abi) })
        }
        Some([f]) => Ok(f.clone()),
        Some(many) => Err(AbiError::AmbiguousFunction {
            name: spec.to_owned(),
            candidates: many.iter().map(Function::signature).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Resolves a parameter's type.
fn param_type(p: &Param) -> Result<DynSolType, AbiError> {
    p.resolve().map_err(|e| AbiError::BadType { ty: p.ty.clone(), reason: one_line(e) })
}

/// Parses string arguments against parameters. A top-level `string` argument is taken verbatim
/// (quotes and commas included); every other type goes through alloy's coercion (decimal or hex
/// integers, `0x` addresses and bytes, `true`/`false`, `[a,b]` arrays, `(a,b)` tuples).
pub fn parse_args<S: AsRef<str>>(
    function: &str,
    params: &[Param],
    args: &[S],
) -> Result<Vec<DynSolValue>, AbiError> {
    if params.len() != args.len() {
        return Err(AbiError::ArgCount {
            function: function.to_owned(),
            expected: params.len(),
            got: args.len(),
        });
    }
    params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (p, arg))| {
            let arg = arg.as_ref();
            let ty = param_type(p)?;
            if ty == DynSolType::String {
                return Ok(DynSolValue::String(arg.to_owned()));
            }
            ty.coerce_str(arg).map_err(|e| AbiError::BadArgument {
                position: i.saturating_add(1),
                param: if p.name.is_empty() { p.ty.clone() } else { p.name.clone() },
                ty: ty.sol_type_name().into_owned(),
                value: arg.to_owned(),
                reason: one_line(e),
            })
        })
        .collect()
}

/// Encodes a call (selector and arguments) from a human signature and string arguments:
/// `encode_call("transfer(address,uint256)", &["0x…", "100"])`.
pub fn encode_call<S: AsRef<str>>(signature: &str, args: &[S]) -> Result<Vec<u8>, AbiError> {
    let function = parse_signature(signature)?;
    encode_function_call(&function, args)
}

/// Encodes a call to a resolved function from string arguments.
pub fn encode_function_call<S: AsRef<str>>(
    function: &Function,
    args: &[S],
) -> Result<Vec<u8>, AbiError> {
    let values = parse_args(&function.signature(), &function.inputs, args)?;
    function.abi_encode_input(&values).map_err(|e| AbiError::Decode {
        what: format!("arguments of {}", function.signature()),
        reason: one_line(e),
    })
}

/// The deployment data: the artifact's initcode followed by the ABI-encoded constructor
/// arguments (string arguments, parsed against the ABI's constructor). Refuses arguments for a
/// contract without a constructor and initcode over the EIP-3860 limit.
pub fn encode_constructor<S: AsRef<str>>(
    artifact: &Artifact,
    args: &[S],
) -> Result<Vec<u8>, AbiError> {
    let params: &[Param] = artifact.abi.constructor.as_ref().map_or(&[], |c| &c.inputs);
    let values = parse_args("constructor", params, args)?;
    let mut data = artifact.bytecode.to_vec();
    if let Some(ctor) = &artifact.abi.constructor {
        let encoded = ctor.abi_encode_input(&values).map_err(|e| AbiError::Decode {
            what: "constructor arguments".into(),
            reason: one_line(e),
        })?;
        data.extend_from_slice(&encoded);
    }
    check_initcode_size(data.len())?;
    Ok(data)
}

/// Decodes a function's return data into one printable string per output. A function whose
/// outputs are unknown (a signature without them) shows non-empty data as hex.
pub fn decode_return(function: &Function, data: &[u8]) -> Result<Vec<String>, AbiError> {
    if function.outputs.is_empty() {
        return Ok(if data.is_empty() { Vec::new() } else { vec![hex::encode_prefixed(data)] });
    }
    let values = function.abi_decode_output(data, true).map_err(|e| AbiError::Decode {
        what: format!("the return data of {}", function.signature()),
        reason: one_line(e),
    })?;
    Ok(values.iter().map(format_value).collect())
}

/// Formats a value for people: decimal integers, checksummed addresses, `0x` hex bytes,
/// strings as they are at the top level and quoted inside arrays and tuples.
pub fn format_value(value: &DynSolValue) -> String {
    match value {
        DynSolValue::String(s) => s.clone(),
        other => format_nested(other),
    }
}

fn format_nested(value: &DynSolValue) -> String {
    let list = |items: &[DynSolValue], open: &str, close: &str| {
        let inner: Vec<String> = items.iter().map(format_nested).collect();
        format!("{open}{}{close}", inner.join(", "))
    };
    #[allow(unreachable_patterns)] // variants behind alloy features this crate does not enable
    match value {
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::FixedBytes(word, size) => {
            hex::encode_prefixed(&word[..(*size).min(word.len())])
        }
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Function(f) => hex::encode_prefixed(f.as_slice()),
        DynSolValue::Bytes(b) => hex::encode_prefixed(b),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) => list(items, "[", "]"),
        DynSolValue::Tuple(items) => list(items, "(", ")"),
        other => format!("{other:?}"),
    }
}

/// Why a call reverted, decoded from its revert data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertReason {
    /// No revert data (`revert()`, `require(cond)` without a message, or out of gas / invalid
    /// opcode as the executor reports them separately).
    Empty,
    /// `Error(string)`: `revert("...")` or `require(cond, "...")`.
    Message(String),
    /// `Panic(uint256)`: a compiler-inserted check failed.
    Panic {
        /// The panic code.
        code: U256,
        /// What the code means, for the codes Solidity defines.
        meaning: Option<String>,
    },
    /// A custom error of the contract's ABI.
    Custom {
        /// The error's name.
        name: String,
        /// `name: value` per argument, in order.
        args: Vec<(String, String)>,
    },
    /// Data that matches none of the above (shown as hex).
    Unknown(Bytes),
}

impl fmt::Display for RevertReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("reverted without a reason"),
            Self::Message(m) => write!(f, "reverted: {m}"),
            Self::Panic { code, meaning: Some(m) } => write!(f, "panic 0x{code:02x}: {m}"),
            Self::Panic { code, meaning: None } => write!(f, "panic 0x{code:02x}: unknown code"),
            Self::Custom { name, args } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|(n, v)| if n.is_empty() { v.clone() } else { format!("{n}: {v}") })
                    .collect();
                write!(f, "reverted with {name}({})", args.join(", "))
            }
            Self::Unknown(data) => write!(f, "reverted with undecoded data {data}"),
        }
    }
}

/// Decodes revert data: `Error(string)`, `Panic(uint256)` with its code's meaning, or a custom
/// error of `abi` (when given). Data that matches none decodes to [`RevertReason::Unknown`].
pub fn decode_revert(data: &[u8], abi: Option<&JsonAbi>) -> RevertReason {
    if data.is_empty() {
        return RevertReason::Empty;
    }
    if let Ok(r) = RevertString::abi_decode(data, true) {
        return RevertReason::Message(r.reason);
    }
    if let Ok(p) = Panic::abi_decode(data, true) {
        return RevertReason::Panic { code: p.code, meaning: p.kind().map(|k| k.to_string()) };
    }
    if let (Some(abi), Some(selector)) = (abi, data.get(..4)) {
        for error in abi.errors() {
            if error.selector().as_slice() != selector {
                continue;
            }
            if let Ok(values) = error.abi_decode_input(&data[4..], true) {
                let args = error
                    .inputs
                    .iter()
                    .zip(&values)
                    .map(|(p, v)| (p.name.clone(), format_nested(v)))
                    .collect();
                return RevertReason::Custom { name: error.name.clone(), args };
            }
        }
    }
    RevertReason::Unknown(Bytes::copy_from_slice(data))
}

/// A decoded event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedLog {
    /// The event's name.
    pub name: String,
    /// `name: value` for each parameter in declaration order (indexed and not). An indexed
    /// dynamic value (string, bytes, array) shows as its keccak-256 hash, the only thing a log
    /// keeps of it.
    pub fields: Vec<(String, String)>,
}

impl fmt::Display for DecodedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(n, v)| if n.is_empty() { v.clone() } else { format!("{n}: {v}") })
            .collect();
        write!(f, "{}({})", self.name, fields.join(", "))
    }
}

/// Decodes a log with an ABI: the event is the one whose selector is `topics[0]`.
pub fn decode_log(abi: &JsonAbi, topics: &[B256], data: &[u8]) -> Result<DecodedLog, AbiError> {
    let Some(topic0) = topics.first() else {
        return Err(AbiError::UnknownEvent { topic0: "none (an anonymous event?)".into() });
    };
    let event = abi
        .events()
        .find(|e| !e.anonymous && e.selector() == *topic0)
        .ok_or_else(|| AbiError::UnknownEvent { topic0: topic0.to_string() })?;
    let decoded = event.decode_log_parts(topics.iter().copied(), data, true).map_err(|e| {
        AbiError::Decode { what: format!("event {}", event.signature()), reason: one_line(e) }
    })?;
    let mut indexed = decoded.indexed.iter();
    let mut body = decoded.body.iter();
    let mut fields = Vec::with_capacity(event.inputs.len());
    for input in &event.inputs {
        let value = if input.indexed { indexed.next() } else { body.next() };
        let value = value.ok_or_else(|| AbiError::Decode {
            what: format!("event {}", event.signature()),
            reason: "fewer values than parameters".into(),
        })?;
        fields.push((input.name.clone(), format_nested(value)));
    }
    Ok(DecodedLog { name: event.name.clone(), fields })
}

#[cfg(test)]
mod tests;
