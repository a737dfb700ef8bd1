use clap::Parser;

fn main() {
    let cli = nodegrad::cli::Cli::parse();
    let code = nodegrad::cli::run(cli, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
