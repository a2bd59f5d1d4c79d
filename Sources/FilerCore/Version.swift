/// The version `filer --version` and `filer status` report; debian/changelog names the
/// same one (a test holds them together).
public let filerVersion = "0.1.0"
