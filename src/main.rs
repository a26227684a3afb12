fn main() {
    rtools_cli::main()
}
