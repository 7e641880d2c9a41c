fn main() {
    std::process::exit(edgepaint::cli::main());
}
