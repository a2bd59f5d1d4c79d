# make deb   builds the Debian package with dpkg-buildpackage and leaves
#            filer_<version>_<arch>.deb (and its .buildinfo and .changes)
#            in build/deb/. The Swift toolchain is taken from PATH, then
#            /opt/swift/usr/bin; `SWIFT=/path/to/swift make deb` overrides it
#            (see debian/rules).
#            DEB_FLAGS=-nc skips the clean step, keeping .build-deb/ for a
#            quicker rebuild.

DEB_DIR := build/deb
DEB_VERSION := $(shell dpkg-parsechangelog -S Version)
DEB_ARCH := $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB_FLAGS ?=

.PHONY: deb
deb:
	dpkg-buildpackage -us -uc -b $(DEB_FLAGS)
	mkdir -p $(DEB_DIR)
	mv -f ../filer_$(DEB_VERSION)_$(DEB_ARCH).deb \
	      ../filer_$(DEB_VERSION)_$(DEB_ARCH).buildinfo \
	      ../filer_$(DEB_VERSION)_$(DEB_ARCH).changes $(DEB_DIR)/
	mv -f ../filer-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb $(DEB_DIR)/ 2>/dev/null || true
	@echo "built $(DEB_DIR)/filer_$(DEB_VERSION)_$(DEB_ARCH).deb"

# make bench   filer vs a plain C server of the same design vs pyzmq, one table
#              (see "Performance" in README.md); `make -C bench quick` is the smoke run.
.PHONY: bench
bench:
	$(MAKE) -C bench
