fn main() -> std::process::ExitCode {
    credit_lists::cli::run()
}
