use harness::tls::{CertSpec, Pki, PkiRequest};

use crate::cli::CertsArgs;
use crate::exit::{Classify, CmdResult, Code};

pub fn run(a: CertsArgs) -> CmdResult {
    let req = PkiRequest {
        key_type: a.key,
        frontend: CertSpec { dns: vec![a.name], ips: a.ip },
        backend: CertSpec { dns: vec![a.backend_name], ips: a.backend_ip },
        client: a.client,
    };
    let pki = Pki::generate(&req).bad_input()?;
    let files = pki.write_to(&a.out).infra()?;
    for f in &files.written {
        outln!("{}\t{}", f.path.display(), f.role);
    }
    Ok(Code::Ok)
}
