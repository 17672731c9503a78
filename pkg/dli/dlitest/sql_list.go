package dlitest

import "net/http"

func (e *Emulator) sqlList(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "DLI.0007", "not implemented yet")
}

func (e *Emulator) sqlPreview(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "DLI.0007", "not implemented yet")
}

func (e *Emulator) sqlImportTable(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "DLI.0007", "not implemented yet")
}

func (e *Emulator) sqlAdminSetStatus(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "DLI.0007", "not implemented yet")
}

func (s *sqlState) seed(e *Emulator) {}
